"""No submission stalls (issue 30): two results committed at once still finish the
submission; the repair sweep puts right a submission whose state contradicts its jobs; a job
no worker serves fails in time with its quota back; a claim whose client hung up leases
nothing; simultaneous junk uploads stop at ``max_failed_per_day``. Each on SQLite and on
PostgreSQL (the ``live`` fixture)."""

from __future__ import annotations

import threading

import httpx
from sqlalchemy import select

from platform_testing import challenge_def

PAIRS = 60  # result pairs posted at once per run (old main left ~1 in 3 Running on PostgreSQL)


def _queued_submissions(live, slug: str, n: int) -> list[int]:
    """``n`` accepted submissions of alice in ``slug``'s validation phase, written straight
    into the database (the race is in the results, not in the uploads)."""
    from maikit.server.challenge import ChallengeDef
    from maikit.server.db.models import Challenge, Phase, Submission, User
    from maikit.server.jobs.pipeline import create_jobs

    p = live.platform
    with p.db.write() as s, s.begin():
        c = s.execute(select(Challenge).where(Challenge.slug == slug)).scalar_one()
        ph = s.execute(select(Phase).where(Phase.challenge_id == c.id, Phase.slug == "validation")).scalar_one()
        alice = s.execute(select(User).where(User.username == "alice")).scalar_one()
        ids = []
        for _ in range(n):
            sub = Submission(phase_id=ph.id, user_id=alice.id, owner_key=f"u{alice.id}", status="Submitted",
                             counts_quota=True, runtime_sha256="0" * 64, fidelity_sha256="0" * 64, created_at=p.now())
            s.add(sub)
            s.flush()
            create_jobs(s, sub, ChallengeDef.model_validate(c.definition), now=p.now(), max_attempts=3)
            ids.append(sub.id)
    return ids


def _lease_all(live, n_jobs: int) -> dict[tuple[int, str], tuple[int, str]]:
    """Claim every queued job through the API: (submission, role) -> (job id, lease token)."""
    r = live.post("/api/workers/register", "worker", json={"name": "racer", "roles": ["fidelity", "runtime"],
                                                            "device_tag": "litert-cpu"})
    assert r.status_code == 201, r.text
    wid = r.json()["worker_id"]
    leases = {}
    while len(leases) < n_jobs:
        r = live.post("/api/workers/claim", "worker", json={"worker_id": wid, "wait_s": 5})
        assert r.status_code == 200, (r.status_code, r.text)
        job = r.json()
        leases[(job["submission_id"], job["role"])] = (job["job_id"], job["lease_token"])
    return leases


def test_two_results_committed_at_once_finish_the_submission(live, isp_split):
    """Issue 30 item 1: the fidelity and the runtime result of one submission posted at the
    same moment by two clients (a barrier), ``PAIRS`` times: every submission ends Finished
    with the score the ISP formula gives (PSNR 22 dB, 100 ms: 22 + 20 * (0.2 - 0.1) = 24)."""
    live.create_challenge(challenge_def("race", isp_split, max_submissions_per_day=1000))
    subs = _queued_submissions(live, "race", PAIRS)
    leases = _lease_all(live, 2 * PAIRS)
    bodies = {"fidelity": {"ok": True, "result": {"psnr": 22.0, "ssim": 0.8, "ms_ssim": 0.9, "images": 2}},
              "runtime": {"ok": True, "result": {"avg_ms": 100.0, "runs": 3}}}
    clients = {role: httpx.Client(base_url=live.url, timeout=120) for role in bodies}
    answers: list[int] = []
    try:
        for sub_id in subs:
            barrier = threading.Barrier(2)

            def post(role: str, sub_id: int = sub_id, barrier: threading.Barrier = barrier) -> None:
                job_id, token = leases[(sub_id, role)]
                barrier.wait()
                r = clients[role].post(f"/api/jobs/{job_id}/result", json=bodies[role],
                                       headers={"Authorization": f"Bearer {token}"})
                answers.append(r.status_code)

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
