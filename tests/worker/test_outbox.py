"""The worker's outbox on disk: atomic files with the umask, one holder at a time, results
read back as written, unreadable files moved aside with one warning."""

from __future__ import annotations

import fcntl
import json
import logging
import os

from maikit.worker.outbox import Outbox, default_outbox

JOB = {"job_id": 7, "lease_token": "mai_l_secret", "attempt": 2}
BODY = {"ok": True, "result": {"runs": 3, "samples_ms": [1.5, 1.25, 1.0]}}


def test_a_result_is_written_with_the_umask_and_read_back(tmp_path):
    box = Outbox(tmp_path / "outbox")
    old = os.umask(0o027)
    try:
        path = box.put("http://server:8000", JOB, BODY)
    finally:
        os.umask(old)
    assert path.name == "job-7-attempt-2.json"
    assert path.stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "outbox").stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == ["job-7-attempt-2.json"]  # no temporary left
    on_disk = json.loads(path.read_text())
    assert on_disk == {"version": 1, "server": "http://server:8000", "job_id": 7, "lease_token": "mai_l_secret",
                       "attempt": 2, "body": BODY}
    box.release(path)
    # another process's outbox (a restarted worker) finds it
    again = Outbox(tmp_path / "outbox")
    [entry] = list(again.pending())
    assert (entry.server, entry.job, entry.body) == ("http://server:8000", JOB, BODY)
    again.done(entry.path)
    assert list((tmp_path / "outbox").iterdir()) == []


def test_a_result_being_posted_is_skipped_by_other_workers(tmp_path):
    mine, other = Outbox(tmp_path), Outbox(tmp_path)
    path = mine.put("http://s", JOB, BODY)
    assert list(other.pending()) == []  # held by `mine` until it is done or released
    mine.release(path)
    [entry] = list(other.pending())
    assert list(mine.pending()) == []  # now `other` holds it
    other.release(entry.path)


def test_results_come_out_in_job_order(tmp_path):
    box = Outbox(tmp_path)
    for job_id in (12, 3, 100):
        box.release(box.put("http://s", dict(JOB, job_id=job_id), BODY))
    entries = list(box.pending())
    assert [e.job["job_id"] for e in entries] == [3, 12, 100]


def test_unreadable_files_are_moved_aside_with_one_warning(tmp_path, caplog):
    box = Outbox(tmp_path)
    good = box.put("http://s", JOB, BODY)
    box.release(good)
    (tmp_path / "job-1-attempt-1.json").write_bytes(good.read_bytes()[:25])  # cut short
    (tmp_path / "job-2-attempt-1.json").write_text('{"job_id": "two", "body": []}')
    (tmp_path / "job-3-attempt-1.json").write_bytes(b"\xff\xfe\x00")
    with caplog.at_level(logging.WARNING, logger="maikit.worker"):
        entries = list(box.pending())
    assert [e.job for e in entries] == [JOB]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and all("moved aside" in ln for ln in lines)
    for n in (1, 2, 3):
        assert sum(f"job-{n}-attempt-1.json" in ln for ln in lines) == 1
        assert (tmp_path / f"job-{n}-attempt-1.json.corrupt").is_file()
    box.release(entries[0].path)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="maikit.worker"):
        assert [e.job for e in box.pending()] == [JOB]  # once aside, no more warnings
    assert caplog.records == []


def test_a_dead_writers_temporary_is_dropped_and_a_live_ones_kept(tmp_path):
    box = Outbox(tmp_path)
    dead = tmp_path / ".job-5-attempt-1.json.999.tmp"
    dead.write_text("{")
    live = tmp_path / ".job-6-attempt-1.json.998.tmp"
    live.write_text("{")
    with open(live) as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # a writer still at it
        assert list(box.pending()) == []
        assert not dead.exists() and live.exists()


def test_the_default_outbox_is_per_server_under_the_state_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MAIKIT_STATE", str(tmp_path))
    assert default_outbox("http://10.0.0.5:8000/") == tmp_path / "worker" / "10.0.0.5_8000" / "outbox"
    assert default_outbox("https://[::1]:8443") == tmp_path / "worker" / "___1__8443" / "outbox"
