"""The claim statement under contention: many workers, every job handed out exactly once."""

from __future__ import annotations

import threading
from collections import Counter

from maikit.server.db.models import Challenge, Job, Phase, Submission, Worker


def test_concurrent_claims_never_hand_out_a_job_twice(live):
    from maikit.server.jobs.queue import claim

    p = live.platform
    now = p.now()
    with p.db.write() as s, s.begin():
        c = Challenge(slug="qq", title="qq", task="isp", definition={}, created_at=now)
        s.add(c)
        s.flush()
        ph = Phase(challenge_id=c.id, slug="v", kind="validation", start=now, end=now, published=False)
        s.add(ph)
        s.flush()
        sub = Submission(phase_id=ph.id, user_id=1, owner_key="u1", status="Queued", created_at=now)
        s.add(sub)
        s.flush()
        s.add_all([Job(submission_id=sub.id, role="noop", status="queued", attempt=0, max_attempts=3, created_at=now)
                   for _ in range(60)])
        workers = [Worker(name=f"w{i}", token_id=1, device_tag="*", roles=["noop"], registered_at=now, last_seen=now)
                   for i in range(8)]
        s.add_all(workers)
        s.flush()
        worker_ids = [w.id for w in workers]
    got: list[tuple[int, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(len(worker_ids))

    def run(wid: int) -> None:
        start.wait()
        while True:
            with p.db.write() as s, s.begin():
                out = claim(s, worker_id=wid, roles=["noop"], device_tag="*", now=p.now(), lease_s=60)
                if out is None:
                    return
                with lock:
                    got.append((out[0].id, wid))

    threads = [threading.Thread(target=run, args=(w,)) for w in worker_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(job for job, _ in got)
    assert len(counts) == 60 and max(counts.values()) == 1
    with p.db.read() as s:
        leased = {j.id: j.worker_id for j in s.query(Job).filter(Job.role == "noop")}
    assert leased == {job: wid for job, wid in got}
