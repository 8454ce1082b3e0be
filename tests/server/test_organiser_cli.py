"""The organiser's and the participant's commands through a live server (SQLite and
PostgreSQL): ``mai challenge create|list|show|publish|rerun|export`` and ``mai submission
list|show|logs|cancel|rerun|select|download``, with ``--json``, exit status 1 and a one-line
error for a refusal; a participant cancels their own queued submission and gets the quota
back; two choices made at once leave one submission selected."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading

import httpx
import yaml
from typer.testing import CliRunner

from maikit.cli import app
from platform_testing import FAST, challenge_def


def mai(live, who: str | None, *args):
    """``mai ARGS --server URL [--token TOKEN]`` in this process: (exit code, stdout, stderr)."""
    extra = ["--server", live.url] + (["--token", live.tokens[who]] if who else [])
    r = CliRunner().invoke(app, [*args, *extra])
    return r.exit_code, r.stdout, r.stderr


def _create(live, tmp_path, d: dict) -> None:
    f = tmp_path / f"{d['slug']}.yaml"
    f.write_text(yaml.safe_dump(d))
    code, out, err = mai(live, "organiser", "challenge", "create", str(f))
    assert code == 0, err
    assert out.startswith(f"{d['slug']}: ")


def test_an_organiser_runs_a_challenge_from_the_command_line(live, tiny_models, isp_split, tmp_path):
    d = challenge_def("cli1", isp_split)
    _create(live, tmp_path, d)
    code, out, _ = mai(live, None, "challenge", "list", "--json")
    assert code == 0 and [c["slug"] for c in json.loads(out)] == ["cli1"]
    code, out, _ = mai(live, None, "challenge", "show", "cli1")
    assert code == 0 and "cli1/validation  validation" in out and "50 per UTC day" in out
    assert [line.split("  ")[-1] for line in out.splitlines() if line.startswith("cli1/")] == [
        "open", "open, results hidden until published"]

    model = tiny_models["isp"] / "model.tflite"
    ids = []
    for phase in ("validation", "testing"):
        code, out, err = mai(live, "alice", "submit", str(model.parent), "--challenge", "cli1", "--phase", phase, "--json")
        assert code == 0, err
        ids.append(json.loads(out)["id"])
    live.worker(name="w")
    for i in ids:
        assert live.wait_done(i)["status"] == "Finished"

    # the test phase: hidden from alice until the organiser publishes it
    code, out, _ = mai(live, "alice", "submission", "show", str(ids[1]), "--json")
    assert code == 0 and json.loads(out)["score"] is None
    code, _out, err = mai(live, "alice", "challenge", "publish", "cli1", "--phase", "testing")
    assert code == 1 and err.strip() == "error: organisers only (HTTP 403)"
    code, out, err = mai(live, "organiser", "challenge", "publish", "cli1", "--phase", "testing", "--json")
    assert code == 0 and json.loads(out)["published"] is True, err
    code, out, _ = mai(live, "organiser", "challenge", "publish", "cli1", "--phase", "testing")
    assert code == 0 and out.strip() == "cli1/testing: results published; the leaderboard is public"  # was "is hidden-until-published"
    code, out, _ = mai(live, "alice", "submission", "show", str(ids[1]), "--json")
    assert json.loads(out)["score"] == live.get(f"/api/submissions/{ids[1]}", "organiser").json()["score"] is not None
    # the report of one team says so in words ("1 team(s)", "1 teams are ranked" before)
    code, _out, err = mai(live, "organiser", "challenge", "report", "cli1", "--phase", "testing", "--out",
                          str(tmp_path / "report"), "--no-figure")
    assert code == 0 and err == "" and _out.startswith("cli1/testing: 1 team -> "), err
    assert "\n1 team is ranked in the testing phase." in "\n" + (tmp_path / "report" / "results.md").read_text().split("## Challenge Results\n\n", 1)[1]

    # re-run a phase: the newest of each lineage, no quota
    code, out, _ = mai(live, "organiser", "challenge", "rerun", "cli1", "--phase", "validation", "--json")
    assert code == 0
    rerun = json.loads(out)
    assert rerun["rerun"] == 1 and live.get(f"/api/submissions/{rerun['submissions'][0]}", "alice").json()["parent_id"] == ids[0]
    code, out, _ = mai(live, "organiser", "challenge", "rerun", "cli1", "--phase", "validation")
    assert out.strip() == f"cli1/validation: 1 submission re-run as {rerun['submissions'][0] + 1}"

    # export: every submission with its raw runtime samples, as the API gives them
    target = tmp_path / "out" / "validation.csv"
    code, _out, err = mai(live, "organiser", "challenge", "export", "cli1", "--phase", "validation", "--format", "csv",
                          "--out", str(target))
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [int(r["id"]) for r in rows] == sorted([ids[0], *rerun["submissions"], rerun["submissions"][0] + 1])
    assert err.strip() == f"{target}: 3 submissions of cli1/validation"
    code, out, err = mai(live, "organiser", "challenge", "export", "cli1", "--phase", "validation", "--format", "csv",
                         "--out", str(target), "--json")
    assert code == 0 and json.loads(out) == {"out": str(target), "format": "csv", "submissions": 3}, err
    code, _out, err = mai(live, "organiser", "challenge", "export", "cli1", "--phase", "validation", "--format", "csv",
                          "--json")
    assert code == 2 and err.strip() == ("error: `--json` without `--out` prints the export as JSON; with `--format csv` "
                                         "give `--out` (see `mai challenge export --help`)")
    code, out, _ = mai(live, "organiser", "challenge", "export", "cli1", "--phase", "testing", "--json")
    exported = json.loads(out)
    assert exported == live.get("/api/challenges/cli1/phases/testing/export", "organiser").json()
    assert exported["submissions"][0]["runtime"]["samples_ms"]
    code, _out, err = mai(live, "organiser", "challenge", "export", "cli1", "--phase", "nope")
    assert code == 1 and err.strip() == "error: challenge 'cli1' has no phase 'nope' (its phases: validation, testing) (HTTP 404)"

    # files and logs
    code, _out, err = mai(live, "organiser", "submission", "download", str(ids[0]), "--out", str(tmp_path / "m.tflite"))
    assert code == 0 and (tmp_path / "m.tflite").read_bytes() == model.read_bytes()
    code, out, err = mai(live, "organiser", "submission", "download", str(ids[0]), "--role", "fidelity", "--out",
                         str(tmp_path / "f.tflite"), "--json")
    none = tiny_models["isp"] / "model_none.tflite"
    assert code == 0 and json.loads(out) == {"id": ids[0], "role": "fidelity", "out": str(tmp_path / "f.tflite"),
                                             "size_bytes": none.stat().st_size,
                                             "sha256": hashlib.sha256(none.read_bytes()).hexdigest()}, err
    code, _out, err = mai(live, "alice", "submission", "download", str(ids[0]), "--out", str(tmp_path / "x.tflite"))
    assert code == 1 and not (tmp_path / "x.tflite").exists()
    code, out, _ = mai(live, "alice", "submission", "logs", str(ids[0]))
    assert code == 0 and "== preflight: passed" in out and "== fidelity: done, attempt 1" in out
    code, out, _ = mai(live, "organiser", "submission", "list", "--challenge", "cli1", "--user", "alice", "--json")
    assert {s["id"] for s in json.loads(out)} == {ids[0], *rerun["submissions"], rerun["submissions"][0] + 1}


def test_a_participant_cancels_and_selects_from_the_command_line(live, tiny_models, isp_split, tmp_path):
    d = challenge_def("cli2", isp_split, ranking="selected", max_submissions_per_day=2)
    d["protocol"] = dict(FAST, device="no-worker-here")  # runtime jobs wait: submissions stay active
    _create(live, tmp_path, d)
    model = tiny_models["isp"] / "model.tflite"
    a = live.upload("cli2", model).json()["id"]
    b = live.upload("cli2", model).json()["id"]
    quota = "/api/challenges/cli2/phases/validation/quota"
    assert live.get(quota, "alice").json()["used_today"] == 2
    assert live.upload("cli2", model).status_code == 429

    # another participant's submission does not exist for bob
    code, _out, err = mai(live, "bob", "submission", "cancel", str(a))
    assert code == 1 and err.strip() == f"error: no submission {a} (HTTP 404)"
    code, out, err = mai(live, "alice", "submission", "cancel", str(a), "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "Cancelled" and json.loads(out)["reason"] == "cancelled by its owner"
    assert live.get(quota, "alice").json()["used_today"] == 1  # the quota given back
    assert live.upload("cli2", model).status_code == 201
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer")
    rejected = live.upload("cli2", junk).json()
    # the list says why each failed or was cancelled, as the web page's "Your submissions" does
    code, out, _ = mai(live, "alice", "submission", "list", "--challenge", "cli2")
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│")}
    assert code == 0 and "cancelled by its owner" in rows[str(a)]
    assert rejected["detail"].startswith("preflight: ") and rejected["detail"] in rows[str(rejected["submission_id"])]
    code, _out, err = mai(live, "alice", "submission", "cancel", str(a))
    assert code == 1
    assert err.strip() == f"error: submission {a} is Cancelled; only a queued or running submission can be cancelled (HTTP 409)"

    # select: the one the board shows; not a cancelled one; only in a phase ranked by `selected`
    code, out, err = mai(live, "alice", "submission", "select", str(b))
    assert code == 0, err
    assert err.strip() == f"submission {b} is the one the cli2/validation leaderboard shows for you"
    code, _out, err = mai(live, "alice", "submission", "select", str(a))
    assert code == 1 and err.strip() == (f"error: submission {a} is Cancelled; choose one that is finished or still "
                                         "running (HTTP 409)")
    code, _out, err = mai(live, "organiser", "submission", "rerun", str(b), "--json")
    assert code == 0, err
    d2 = challenge_def("cli3", isp_split)
    live.create_challenge(d2)
    c = live.upload("cli3", model).json()["id"]
    code, _out, err = mai(live, "alice", "submission", "select", str(c))
    assert code == 1 and err.strip() == ("error: phase 'validation' ranks each participant's best submission; choosing "
                                         "one is for phases ranked by `selected` (HTTP 409)")
    code, _out, err = mai(live, "alice", "submission", "rerun", str(c))
    assert code == 1 and err.strip() == "error: organisers only (HTTP 403)"


def test_two_choices_at_once_leave_one_selected(live, tiny_models, isp_split):
    """Selecting cleared the owner's other choices without a lock: two choices made at once
    both stayed selected (PostgreSQL, READ COMMITTED)."""
    from sqlalchemy import func, select

    from maikit.server.db.models import Submission

    d = challenge_def("sel", isp_split, ranking="selected")
    d["protocol"] = dict(FAST, device="no-worker-here")
    live.create_challenge(d)
    subs = [live.upload("sel", tiny_models["isp"] / "model.tflite").json()["id"] for _ in range(4)]
    headers = live.auth("alice")
    for round_ in range(15):
        pair = (subs[round_ % 4], subs[(round_ + 1) % 4])
        barrier = threading.Barrier(2)
        codes = []

        def choose(sub_id):
            with httpx.Client(base_url=live.url, headers=headers, timeout=60) as http:
                barrier.wait()
                codes.append(http.post(f"/api/submissions/{sub_id}/select").status_code)

        threads = [threading.Thread(target=choose, args=(i,)) for i in pair]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert codes == [200, 200]
        with live.platform.db.read() as s:
            chosen = s.scalar(select(func.count()).select_from(Submission).where(Submission.id.in_(subs),
                                                                                 Submission.selected.is_(True)))
        assert chosen == 1, f"round {round_}: {chosen} selected"


def test_mai_submit_prints_the_preflight_warnings(live, tiny_models, isp_split):
    """The web reply listed the findings a file passed the preflight with; `mai submit` did not."""
    from maikit.export.inspect import inspect_tflite

    d = challenge_def("warn", isp_split)
    d["protocol"] = dict(FAST, target="npu", device="no-worker-here")
    live.create_challenge(d)
    model = tiny_models["isp"]
    expected = [f"{role} file{'' if f['node'] is None else ' node ' + str(f['node'])} {f['op']} (npu): {f['reason']}"
                for role, name in (("runtime", "model.tflite"), ("fidelity", "model_none.tflite"))
                for f in inspect_tflite(model / name, targets=("npu",))["findings"]]
    assert expected and any("float model" in line for line in expected)
    code, out, err = mai(live, "alice", "submit", str(model), "--challenge", "warn", "--description", "[b]int8[/b] next")
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0].startswith("preflight passed; submission ")
    assert lines[1:] == [f"warning: {line}" for line in expected]
    # the web form's description, from the command line too
    sub_id = int(lines[0].split()[3])
    assert live.get(f"/api/submissions/{sub_id}", "alice").json()["description"] == "[b]int8[/b] next"
    code, _out, err = mai(live, "alice", "submit", str(model), "--challenge", "warn", "--description", "x" * 2001)
    assert code == 1 and err.strip() == "error: `--description` holds at most 2000 characters, got 2001"


def test_wait_counts_jobs_in_words():
    from maikit.cli.submit import progress_line

    assert progress_line({"status": "Queued", "stage": None, "queue_position": 1}) == "  Queued, 1 job ahead"
    assert progress_line({"status": "Queued", "stage": None, "queue_position": 3}) == "  Queued, 3 jobs ahead"
    assert progress_line({"status": "Running", "stage": "fidelity", "queue_position": 0}) == "  Running / fidelity"


def test_challenge_show_tells_a_phase_not_open_yet_from_one_that_ended(live, isp_split, tmp_path):
    """A phase that had not started was listed as "closed", like one that had ended."""
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    d = challenge_def("later", isp_split)
    d["phases"][0].update(start=(now - timedelta(days=9)).isoformat(), end=(now - timedelta(days=1)).isoformat())
    d["phases"][1].update(start=(now + timedelta(days=3)).isoformat(), end=(now + timedelta(days=9)).isoformat())
    _create(live, tmp_path, d)
    code, out, _ = mai(live, None, "challenge", "list")
    assert code == 0 and [line.split("  ")[-1] for line in out.splitlines() if line.startswith("  later/")] == [
        "closed", "not open yet, results hidden until published"]
    code, out, _ = mai(live, None, "challenge", "show", "later", "--json")
    assert [(p["open"], p["state"]) for p in json.loads(out)["phases"]] == [(False, "closed"), (False, "not open yet")]
