"""No submission stalls (issue 30): two results committed at once still finish the
submission; the repair sweep puts right a submission whose state contradicts its jobs; a job
no worker serves fails in time with its quota back; a claim whose client hung up leases
nothing; simultaneous junk uploads stop at ``max_failed_per_day``. Each on SQLite and on
PostgreSQL (the ``live`` fixture)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import httpx
import pytest
from sqlalchemy import select

from platform_testing import challenge_def, queued_submissions, start_live, stop_live, wait_for

PAIRS = 60  # result pairs posted at once per run (old main left ~1 in 3 Running on PostgreSQL)


def _lease_pair(live, worker_id: int, sub_id: int) -> dict[str, tuple[int, str]]:
    """Claim the two jobs of ``sub_id`` (the oldest queued) through the API: role -> (job id,
    lease token)."""
    leases = {}
    for _ in range(2):
        r = live.post("/api/workers/claim", "worker", json={"worker_id": worker_id, "wait_s": 5})
        assert r.status_code == 200, (r.status_code, r.text)
        job = r.json()
        assert job["submission_id"] == sub_id, (job["submission_id"], sub_id)
        leases[job["role"]] = (job["job_id"], job["lease_token"])
    return leases


@pytest.fixture
def racing(engine_name, tmp_path, request):
    """A server whose new leases last a whole lease before their first heartbeat (the test's
    client claims and heartbeats one pair at a time on a loaded machine)."""
    url = request.getfixturevalue("pg_database") if engine_name == "postgresql" else None
    lv = start_live(tmp_path, url, first_heartbeat_s=30.0)
    yield lv
    stop_live(lv)


def test_two_results_committed_at_once_finish_the_submission(racing, isp_split):
    """Issue 30 item 1: the fidelity and the runtime result of one submission posted at the
    same moment by two clients (a barrier), ``PAIRS`` times: every submission ends Finished
    with the score the ISP formula gives (PSNR 22 dB, 100 ms: 22 + 20 * (0.2 - 0.1) = 24)."""
    live = racing
    live.create_challenge(challenge_def("race", isp_split, max_submissions_per_day=1000))
    subs = queued_submissions(live, "race", PAIRS)
    r = live.post("/api/workers/register", "worker", json={"name": "racer", "roles": ["fidelity", "runtime"],
                                                            "device_tag": "litert-cpu"})
    assert r.status_code == 201, r.text
    worker_id = r.json()["worker_id"]
    bodies = {"fidelity": {"ok": True, "result": {"psnr": 22.0, "ssim": 0.8, "ms_ssim": 0.9, "images": 2}},
              "runtime": {"ok": True, "result": {"avg_ms": 100.0, "runs": 3}}}
    clients = {role: httpx.Client(base_url=live.url, timeout=120) for role in bodies}
    answers: list[int] = []
    try:
        for sub_id in subs:
            leases = _lease_pair(live, worker_id, sub_id)
            barrier = threading.Barrier(2, timeout=120)

            def post(role: str, leases: dict = leases, barrier: threading.Barrier = barrier) -> None:
                job_id, token = leases[role]
                auth = {"Authorization": f"Bearer {token}"}
                # a worker's first heartbeat, which keeps the lease past its first seconds
                beat = clients[role].post(f"/api/jobs/{job_id}/heartbeat", headers=auth).status_code
                barrier.wait()
                answers.append(clients[role].post(f"/api/jobs/{job_id}/result", json=bodies[role], headers=auth).status_code
                               if beat == 200 else beat)

            threads = [threading.Thread(target=post, args=(role,)) for role in bodies]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        for c in clients.values():
            c.close()
    assert answers == [200] * (2 * PAIRS)
    stuck = {}
    for sub_id in subs:
        sub = live.get(f"/api/submissions/{sub_id}", "alice").json()
        if sub["status"] != "Finished" or sub["score"] is None:
            stuck[sub_id] = sub["status"]
        else:
            assert abs(sub["score"] - 24.0) < 1e-9 and sub["runtime_ms"] == 100.0
    assert not stuck, f"{len(stuck)} of {PAIRS} submissions not finished: {stuck}"


FAILED_CAP, JUNK_AT_ONCE, JUNK_ROUNDS = 20, 30, 3


def test_simultaneous_junk_uploads_stop_at_the_failed_limit(live, isp_split):
    """Issue 30 item 11: 30 junk uploads fired together (a barrier) against
    ``max_failed_per_day: 20``, three rounds: each leaves exactly 20 Failed rows (old main: 21
    and more); the other 10 are refused with the limit's reason and leave no row."""
    from platform_testing import submission_rows

    junk = b"\x00junk" * 100
    for round_ in range(JUNK_ROUNDS):
        slug = f"junk{round_}"
        live.create_challenge(challenge_def(slug, isp_split, max_failed_per_day=FAILED_CAP))
        start = threading.Barrier(JUNK_AT_ONCE)
        answers: list[tuple[int, str]] = []

        def upload(slug: str = slug, start: threading.Barrier = start) -> None:
            with httpx.Client(base_url=live.url, timeout=300) as c:
                start.wait()
                r = c.post(f"/api/challenges/{slug}/phases/validation/submissions", headers=live.auth("alice"),
                           files={"file": ("m.tflite", junk)})
                answers.append((r.status_code, r.json()["detail"]))

        threads = [threading.Thread(target=upload) for _ in range(JUNK_AT_ONCE)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert submission_rows(live, slug) == {"Failed": FAILED_CAP}, round_
        codes = sorted(code for code, _ in answers)
        assert codes == [422] * FAILED_CAP + [429] * (JUNK_AT_ONCE - FAILED_CAP), (round_, answers)
        assert all(f"{FAILED_CAP} of {FAILED_CAP} failed today" in why for code, why in answers if code == 429)
        quota = live.get(f"/api/challenges/{slug}/phases/validation/quota", "alice").json()
        assert (quota["used_today"], quota["failed_today"]) == (0, FAILED_CAP)


CANCEL_ROUNDS = 30


def test_a_cancel_and_the_last_result_at_once_leave_one_consistent_outcome(racing, isp_split):
    """Issue 30 item 1, the cancel path: the owner's cancel and the last job's result sent at
    the same moment (a barrier), ``CANCEL_ROUNDS`` times. One wins whole: either the cancel (200;
    Cancelled, no score, the job's result not taken) or the result (Finished with its score of
    24; the cancel refused, 409). Never a Finished submission its owner was told was cancelled."""
    live = racing
    live.create_challenge(challenge_def("cancel", isp_split, max_submissions_per_day=1000))
    subs = queued_submissions(live, "cancel", CANCEL_ROUNDS)
    r = live.post("/api/workers/register", "worker", json={"name": "w", "roles": ["fidelity", "runtime"],
                                                            "device_tag": "litert-cpu"})
    worker_id = r.json()["worker_id"]
    fid = {"ok": True, "result": {"psnr": 22.0, "ssim": 0.8, "ms_ssim": 0.9, "images": 2}}
    run = {"ok": True, "result": {"avg_ms": 100.0, "runs": 3}}
    outcomes = []
    with httpx.Client(base_url=live.url, timeout=120) as worker, httpx.Client(base_url=live.url, timeout=120) as owner:
        for sub_id in subs:
            leases = _lease_pair(live, worker_id, sub_id)
            auth = {role: {"Authorization": f"Bearer {token}"} for role, (_job, token) in leases.items()}
            assert worker.post(f"/api/jobs/{leases['fidelity'][0]}/result", json=fid, headers=auth["fidelity"]).status_code == 200
            barrier, codes = threading.Barrier(2, timeout=120), {}

            def result(barrier=barrier, codes=codes, leases=leases, auth=auth):
                barrier.wait()
                codes["result"] = worker.post(f"/api/jobs/{leases['runtime'][0]}/result", json=run,
                                              headers=auth["runtime"]).status_code

            def cancel(barrier=barrier, codes=codes, sub_id=sub_id):
                barrier.wait()
                codes["cancel"] = owner.post(f"/api/submissions/{sub_id}/cancel", headers=live.auth("alice")).status_code

            threads = [threading.Thread(target=result), threading.Thread(target=cancel)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            sub = live.get(f"/api/submissions/{sub_id}", "alice").json()
            outcomes.append((sub_id, codes.get("cancel"), codes.get("result"), sub["status"], sub["score"],
                             _jobs_of(live, sub_id)["runtime"].status))
    good = {(200, 200, "Cancelled", None, "cancelled"), (409, 200, "Finished", 24.0, "done")}
    bad = [o for o in outcomes if o[1:] not in good]
    assert not bad, f"{len(bad)} of {CANCEL_ROUNDS} inconsistent (id, cancel, result, status, score, job): {bad}"


@pytest.fixture
def repairing(engine_name, tmp_path, request):
    """A server whose repair sweep runs every reaper round (0.3 s)."""
    url = request.getfixturevalue("pg_database") if engine_name == "postgresql" else None
    lv = start_live(tmp_path, url, repair_every_s=0.0)
    yield lv
    stop_live(lv)


FID = {"psnr": 22.0, "ssim": 0.8, "ms_ssim": 0.9, "images": 2}
RUN = {"avg_ms": 100.0, "runs": 3}


def _write_state(live, slug: str, status: str, jobs: dict[str, str]) -> int:
    """A submission of alice written straight into the database with this status and these
    job states (role -> status; a done job carries its result, a failed one an error)."""
    from maikit.server.db.models import Challenge, Job, Phase, Submission, User

    p = live.platform
    with p.db.write() as s, s.begin():
        ph = s.execute(select(Phase).join(Challenge).where(Challenge.slug == slug, Phase.slug == "validation")).scalar_one()
        alice = s.execute(select(User).where(User.username == "alice")).scalar_one()
        sub = Submission(phase_id=ph.id, user_id=alice.id, owner_key=f"u{alice.id}", status=status, counts_quota=True,
                         runtime_sha256="0" * 64, fidelity_sha256="0" * 64, created_at=p.now(),
                         finished_at=None if status in ("Queued", "Running", "Scoring") else p.now())
        s.add(sub)
        s.flush()
        for role, state in jobs.items():
            s.add(Job(submission_id=sub.id, role=role, device_tag="litert-cpu" if role == "runtime" else None,
                      status=state, attempt=1, max_attempts=3, created_at=p.now(),
                      result={"fidelity": FID, "runtime": RUN}[role] if state == "done" else None,
                      error="the device rebooted" if state == "failed" else None))
        return sub.id


def _state(live, sub_id: int) -> tuple[str, dict[str, str], dict]:
    from maikit.server.db.models import Job, Submission

    with live.platform.db.read() as s:
        sub = s.get(Submission, sub_id)
        jobs = {j.role: j.status for j in s.execute(select(Job).where(Job.submission_id == sub_id)).scalars()}
        return sub.status, jobs, {"score": sub.score, "fault": sub.fault, "reason": sub.reason}


def test_the_repair_sweep_puts_right_every_contradictory_state(repairing, isp_split, caplog):
    """Issue 30 item 2: each state that contradicts its jobs, written straight into the
    database, is repaired by the sweep where the lease reaper runs, with a log line each:
    all done but Running or Scoring -> Finished with its score (22 + 20 * (0.2 - 0.1) = 24);
    a failed job but Running -> Failed (infrastructure: no quota, no failed count); a job
    cancelled and none left but Running -> requeued, then finished by a worker; no job at
    all -> new jobs queued; Failed with a queued job -> the job cancelled. Consistent states
    are left as they are."""
    live = repairing
    caplog.set_level(logging.WARNING, logger="maikit.server")
    live.create_challenge(challenge_def("fix", isp_split))
    # the consistent ones first: written before the sweep can see the others
    fine = {_write_state(live, "fix", "Queued", {"fidelity": "queued", "runtime": "queued"}): "Queued",
            _write_state(live, "fix", "Running", {"fidelity": "done", "runtime": "queued"}): "Running",
            _write_state(live, "fix", "Cancelled", {"fidelity": "done", "runtime": "done"}): "Cancelled",
            _write_state(live, "fix", "Failed", {"fidelity": "failed", "runtime": "cancelled"}): "Failed"}
    done_running = _write_state(live, "fix", "Running", {"fidelity": "done", "runtime": "done"})
    done_scoring = _write_state(live, "fix", "Scoring", {"fidelity": "done", "runtime": "done"})
    failed_running = _write_state(live, "fix", "Running", {"fidelity": "done", "runtime": "failed"})
    none_left = _write_state(live, "fix", "Running", {"fidelity": "done", "runtime": "cancelled"})
    no_jobs = _write_state(live, "fix", "Queued", {})
    failed_queued = _write_state(live, "fix", "Failed", {"fidelity": "failed", "runtime": "queued"})

    def repaired():
        return (_state(live, done_running)[0] == "Finished" and _state(live, done_scoring)[0] == "Finished"
                and _state(live, failed_running)[0] == "Failed" and _state(live, none_left)[1]["runtime"] == "queued"
                and len(_state(live, no_jobs)[1]) == 2 and _state(live, failed_queued)[1]["runtime"] == "cancelled")

    wait_for(repaired, 120, 0.2, "the sweep to repair every submission")
    for sub_id in (done_running, done_scoring):
        assert _state(live, sub_id)[2]["score"] == pytest.approx(24.0)
    status, jobs, info = _state(live, failed_running)
    assert info["fault"] == "infrastructure" and info["reason"] == "runtime: the device rebooted"
    assert _state(live, none_left)[:2] == ("Queued", {"fidelity": "done", "runtime": "queued"})
    assert _state(live, no_jobs)[:2] == ("Queued", {"fidelity": "queued", "runtime": "queued"})
    assert _state(live, failed_queued)[:2] == ("Failed", {"fidelity": "failed", "runtime": "cancelled"})
    for sub_id, status in fine.items():
        assert _state(live, sub_id)[0] == status, sub_id
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("repaired submission")]
    for sub_id, words in ((done_running, "every job is done but the submission is Running: scored it (24), Finished"),
                          (done_scoring, "every job is done but the submission is Scoring: scored it"),
                          (failed_running, "its runtime job failed but the submission is Running: failed it"),
                          (none_left, "no job is left to run but the submission is Running: requeued its runtime job"),
                          (no_jobs, "no job is left to run but the submission is Queued: it had no jobs; queued new ones"),
                          (failed_queued, "the submission is Failed but a job of it is still queued: its queued jobs "
                                          "cancelled")):
        assert sum(line.startswith(f"repaired submission {sub_id}: {words}") for line in lines) == 1, (sub_id, lines)
    assert len(lines) == 6, lines  # each once; the consistent ones never
    # the requeued job runs: a worker's result finishes the submission
    r = live.post("/api/workers/register", "worker", json={"name": "w", "roles": ["runtime"], "device_tag": "litert-cpu"})
    wid = r.json()["worker_id"]
    while True:
        job = live.post("/api/workers/claim", "worker", json={"worker_id": wid, "wait_s": 5}).json()
        if job["submission_id"] == none_left:
            break
    r = live.http.post(f"/api/jobs/{job['job_id']}/result", json={"ok": True, "result": RUN},
                       headers={"Authorization": f"Bearer {job['lease_token']}"})
    assert r.status_code == 200 and r.json()["submission_status"] == "Finished"
    quota = live.get("/api/challenges/fix/phases/validation/quota", "alice").json()
    assert quota["failed_today"] == 0  # the repaired failure is the platform's


@pytest.fixture
def long_polls(engine_name, tmp_path, request):
    """A server whose claims wait up to 30 s for a job, and whose new leases last 2 s until
    their first heartbeat (a lease 30 s)."""
    url = request.getfixturevalue("pg_database") if engine_name == "postgresql" else None
    lv = start_live(tmp_path, url, claim_wait_s=30.0, first_heartbeat_s=2.0)
    yield lv
    stop_live(lv)


def _register(live, name: str) -> int:
    r = live.post("/api/workers/register", "worker", json={"name": name, "roles": ["fidelity", "runtime"],
                                                            "device_tag": "litert-cpu"})
    assert r.status_code == 201, r.text
    return r.json()["worker_id"]


def _claim_and_hang_up(live, worker_id: int) -> None:
    """A claim (waiting up to 30 s) sent on a raw socket that is closed as soon as it is sent."""
    host, port = live.url.removeprefix("http://").split(":")
    body = json.dumps({"worker_id": worker_id, "wait_s": 30}).encode()
    head = (f"POST /api/workers/claim HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {live.tokens['worker']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head + body)


def _never(cond, seconds: float) -> bool:
    """True if ``cond()`` stayed false for ``seconds`` (what must not happen, watched for a while)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return False
        time.sleep(0.05)
    return True


def _jobs_of(live, sub_id: int) -> dict:
    from maikit.server.db.models import Job

    with live.platform.db.read() as s:
        jobs = {j.role: j for j in s.execute(select(Job).where(Job.submission_id == sub_id)).scalars()}
        s.expunge_all()
        return jobs


def _snapshot(live, sub_ids) -> set:
    """(submission, its status, (job status, attempt, worker)) for each job, in one read."""
    from maikit.server.db.models import Job, Submission

    with live.platform.db.read() as s:
        rows = s.execute(select(Submission.id, Submission.status, Job.status, Job.attempt, Job.worker_id)
                         .join(Job, Job.submission_id == Submission.id).where(Submission.id.in_(sub_ids)))
        return {(sid, status, (js, attempt, worker)) for sid, status, js, attempt, worker in rows}


def test_no_job_is_leased_to_a_worker_that_hung_up(long_polls, isp_split):
    """Issue 30 item 4: a worker's claim sent on a socket closed at once, (a) while the queue is
    empty (the long poll would wait 30 s) and a job comes after, (b) while a job waits (the
    lease may be written before the hang-up is seen: it is given back): no job stays leased to
    it, no attempt is counted, and the next real worker gets the job at once, as attempt 1."""
    live = long_polls
    live.create_challenge(challenge_def("gone", isp_split))
    real = _register(live, "real")
    # (a) the queue is empty when the claim comes
    _claim_and_hang_up(live, _register(live, "gone-waiting"))
    (sub_a,) = queued_submissions(live, "gone", 1)
    leased = lambda sub_id: any(j.status == "leased" for j in _jobs_of(live, sub_id).values())  # noqa: E731
    # old main: the hung-up claim's long poll leased it at its next look at the queue (0.2 s)
    assert _never(lambda: leased(sub_a), 3.0), f"a job of submission {sub_a} was leased to a worker that hung up"
    # (b) a job waits when the claim comes
    (sub_b,) = queued_submissions(live, "gone", 1)
    _claim_and_hang_up(live, _register(live, "gone-at-once"))
    # given back at once (queued, attempt 0), or never leased: either way not a lease of the gone
    # worker. Jobs and submission read in one snapshot: read apart, a fresh-clone run at load 4
    # saw the jobs queued before the claim had looked at them and the submission a moment later
    # Running (leased, then given back)
    wait_for(lambda: _snapshot(live, (sub_a, sub_b)) == {(sub_a, "Queued", ("queued", 0, None)),
                                                         (sub_b, "Queued", ("queued", 0, None))},
             30, 0.05, "the hung-up worker's lease to be given back")
    for sub_id in (sub_a, sub_b):
        assert live.get(f"/api/submissions/{sub_id}", "alice").json()["status"] == "Queued"
    got = set()
    for _ in range(4):  # the real worker: every job, each as its first attempt
        # (waiting up to 10 s: a job the hung-up claim leased a moment ago is back at once)
        r = live.post("/api/workers/claim", "worker", json={"worker_id": real, "wait_s": 10})
        assert r.status_code == 200, r.status_code
        job = r.json()
        assert job["attempt"] == 1
        got.add((job["submission_id"], job["role"]))
    assert got == {(s, role) for s in (sub_a, sub_b) for role in ("fidelity", "runtime")}


def test_a_lease_without_its_first_heartbeat_expires_early(long_polls, isp_split):
    """Issue 30 item 4: a new lease runs ``first_heartbeat_s`` (2 s here, the lease 30 s) until
    the worker's first heartbeat, which extends it to a whole lease; a worker that never sends
    one loses the job to the queue within seconds, not a lease later."""
    from datetime import timedelta

    live = long_polls
    live.create_challenge(challenge_def("beat", isp_split))
    (sub_id,) = queued_submissions(live, "beat", 1)
    wid = _register(live, "w")
    first = live.post("/api/workers/claim", "worker", json={"worker_id": wid, "wait_s": 0}).json()
    job = _jobs_of(live, sub_id)[first["role"]]
    assert job.lease_expires_at - job.started_at == timedelta(seconds=2)
    second = live.post("/api/workers/claim", "worker", json={"worker_id": wid, "wait_s": 0}).json()
    r = live.http.post(f"/api/jobs/{second['job_id']}/heartbeat", headers={"Authorization": f"Bearer {second['lease_token']}"})
    assert r.status_code == 200
    beaten = _jobs_of(live, sub_id)[second["role"]]
    assert beaten.lease_expires_at - beaten.started_at >= timedelta(seconds=30)
    wait_for(lambda: _jobs_of(live, sub_id)[first["role"]].status == "queued", 25, 0.1, "the unbeaten lease to expire")
    assert _jobs_of(live, sub_id)[second["role"]].status == "leased"  # the heartbeat kept its lease


WAIT_LIMIT_S = 4.0  # the phase's worker_wait_limit_s in the test below


def test_a_job_no_worker_serves_says_so_and_fails_in_time(repairing, tiny_models, isp_split, tmp_path):
    """Issue 30 item 3: a phase whose ``protocol.device`` is a tag no worker serves
    (``pixel-9``). After fidelity is done the participant's status says what the runtime job
    waits for; the organiser's devices page names the tag with no worker; once the job waited
    the phase's ``worker_wait_limit_s`` with no worker for it, the submission fails as an
    infrastructure failure (no quota used, no failed upload counted) and ``mai submit --wait``
    returns, having printed what it waited for."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from platform_testing import FAST, web_sign_in

    live = repairing
    d = challenge_def("p9", isp_split, worker_wait_limit_s=WAIT_LIMIT_S)
    d["protocol"] = dict(FAST, device="pixel-9")
    live.create_challenge(d)
    live.worker(name="fid", roles=("fidelity",))  # fidelity jobs run; no worker serves pixel-9
    model = tiny_models["isp"]  # model.tflite (runtime) and model_none.tflite (fidelity)
    src = str(Path(__file__).resolve().parents[2] / "src")
    cli = subprocess.Popen([sys.executable, "-m", "maikit", "submit", str(model), "--server", live.url, "--token",
                            live.tokens["alice"], "--challenge", "p9", "--wait"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=src, COLUMNS="400"))
    try:
        sub_id = wait_for(lambda: next(iter(live.get("/api/challenges/p9/phases/validation/submissions", "alice")
                                            .json()), {}).get("id"), 120, 0.2, "the CLI's upload")

        def waiting():  # fidelity done, the runtime job left waiting
            if _jobs_of(live, sub_id)["fidelity"].status != "done":
                return None
            sub = live.get(f"/api/submissions/{sub_id}", "alice").json()
            return sub if (sub["status"], sub["stage"]) == ("Queued", None) and sub.get("waiting") else None

        sub = wait_for(waiting, 120, 0.1, "fidelity done, the runtime job waiting")
        assert sub["waiting"].startswith("waiting for a worker serving device 'pixel-9': none has connected;")
        assert "fails as an infrastructure failure" in sub["waiting"]
        with httpx.Client(base_url=live.url, timeout=60) as browser:
            assert web_sign_in(browser, "organiser", "org-pass").status_code in (200, 303)
            page = browser.get("/organiser/devices").text
        assert "pixel-9" in page and "no worker serves" in page
        out, err = cli.communicate(timeout=300)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 1, (out, err)
    assert "waiting for a worker serving device 'pixel-9': none has connected" in err
    assert "Failed" in out and "no worker serving device 'pixel-9'" in out
    sub = live.get(f"/api/submissions/{sub_id}", "alice").json()
    assert (sub["status"], sub["fault"], sub["waiting"]) == ("Failed", "infrastructure", None)
    assert f"took the runtime job within {WAIT_LIMIT_S:g} s" in sub["reason"]
    assert "worker_wait_limit_s" in sub["reason"]
    quota = live.get("/api/challenges/p9/phases/validation/quota", "alice").json()
    assert (quota["used_today"], quota["failed_today"]) == (0, 0)
