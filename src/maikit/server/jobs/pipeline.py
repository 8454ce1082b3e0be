"""A submission's way through the platform: jobs at upload, worker results, the score.

Preflight (parse, shapes, op findings) runs at upload in a sandboxed child and never
charges quota. An accepted submission gets two jobs, ``fidelity`` (on the reference split,
wherever it lives) and ``runtime`` (on a worker of the phase's device tag); when both are
done the server scores it with :mod:`maikit.scoring` and it is Finished. A failed job fails
the submission with the worker's reason and cancels its other job.

Race-free under READ COMMITTED: every change of a submission that follows from its jobs'
states (a result, a failure, a cancel, a requeue, a repair) holds the submission's row lock
(:func:`lock_submission`) and reads the sibling jobs after taking it, so of two results
committed at once the second sees the first. Locks are taken submission first, then job;
the claim and the reaper, which find the job first, lock both in one statement with SKIP
LOCKED and never wait (:mod:`maikit.server.jobs.queue`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from maikit.errors import MaikitError
from maikit.server.challenge import STATISTICS, ChallengeDef
from maikit.server.db.models import (ACTIVE_STATUSES, CANCELLED, FAILED, FAULT_INFRA, FAULT_MODEL, FINISHED,
                                     JOB_CANCELLED, JOB_DONE, JOB_FAILED, JOB_LEASED, JOB_QUEUED, QUEUED, RUNNING,
                                     SCORING, Job, JobLog, Phase, Submission)

ROLES = ("fidelity", "runtime")


def challenge_def(phase: Phase) -> ChallengeDef:
    return ChallengeDef.model_validate(phase.challenge.definition)


def create_jobs(s: Session, sub: Submission, cdef: ChallengeDef, *, now: datetime, max_attempts: int) -> list[Job]:
    jobs = [Job(submission_id=sub.id, role="fidelity", device_tag=None, status=JOB_QUEUED, attempt=0,
                max_attempts=max_attempts, created_at=now),
            Job(submission_id=sub.id, role="runtime", device_tag=cdef.protocol.device, status=JOB_QUEUED, attempt=0,
                max_attempts=max_attempts, created_at=now)]
    s.add_all(jobs)
    sub.status, sub.stage = QUEUED, None
    return jobs


def job_payload(job: Job, lease_token: str, lease_s: float) -> dict:
    """What a worker needs to run one job (see ``maikit.worker.loop``)."""
    sub = job.submission
    phase = sub.phase
    cdef = challenge_def(phase)
    pdef = cdef.phase(phase.slug)
    file_role = "fidelity" if job.role == "fidelity" else "runtime"
    sha = sub.fidelity_sha256 if file_role == "fidelity" else sub.runtime_sha256
    return {
        "job_id": job.id,
        "role": job.role,
        "attempt": job.attempt,
        "lease_token": lease_token,
        "lease_s": lease_s,
        "lease_expires_at": job.lease_expires_at.isoformat(),
        "submission_id": sub.id,
        "challenge": cdef.slug,
        "phase": phase.slug,
        "task": cdef.task,
        "file": {"url": f"/api/jobs/{job.id}/file", "sha256": sha},
        "protocol": {**cdef.protocol.model_dump(), "input_shape": cdef.protocol.timed_shape(cdef.task)},
        "bench_kwargs": cdef.protocol.bench_kwargs(),
        "convention": cdef.convention or _default_convention(cdef.task),
        "split": {"kind": phase.kind, "path": cdef.split_path(phase.kind)} if job.role == "fidelity" else None,
        "limits": {"wall_s": pdef.execution_time_limit_s, "cpu_s": pdef.execution_time_limit_s * max(1, cdef.protocol.threads) + 30,
                   "memory_mb": pdef.memory_limit_mb},
    }


def lock_submission(s: Session, sub_id: int) -> Submission:
    """The submission read again under its row lock (PostgreSQL's FOR UPDATE; SQLite's writer
    holds the whole database), and its jobs read after the lock: a decision from the siblings'
    states sees every change committed before it. Call it before changing the submission or
    its jobs in this transaction (it reloads them)."""
    sub = s.execute(select(Submission).where(Submission.id == sub_id).with_for_update()
                    .execution_options(populate_existing=True)).scalar_one()
    s.expire(sub, ["jobs"])
    s.execute(select(Job).where(Job.submission_id == sub_id).execution_options(populate_existing=True)).scalars().all()
    return sub


def mark_running(s: Session, job: Job) -> None:
    sub = job.submission
    if sub.status in (QUEUED, RUNNING):
        sub.status, sub.stage = RUNNING, job.role


def _fail_submission(s: Session, sub: Submission, reason: str, fault: str, now: datetime) -> None:
    sub.status, sub.reason, sub.fault, sub.finished_at = FAILED, reason, fault, now
    for other in sub.jobs:
        if other.status == JOB_QUEUED:
            other.status, other.finished_at = JOB_CANCELLED, now
        elif other.status == JOB_LEASED:
            other.cancel_requested = True


def fail_job(s: Session, job: Job, reason: str, fault: str, now: datetime) -> None:
    """A job that will not run (the caller holds the submission's lock): it fails, and its
    submission with ``reason``."""
    job.status, job.error, job.finished_at = JOB_FAILED, reason[:2000], now
    _fail_submission(s, job.submission, reason, fault, now)


def job_failed_infra(s: Session, job: Job, now: datetime) -> None:
    """A job whose attempts ran out: its submission fails as an infrastructure failure."""
    sub = job.submission
    if sub.status not in (FINISHED, FAILED, CANCELLED):
        _fail_submission(s, sub, f"{job.role}: {job.error}", FAULT_INFRA, now)


def apply_result(s: Session, job: Job, body: dict, now: datetime) -> None:
    """Store a worker's result for a job it holds the lease of, and move the submission on.
    The submission is locked before its jobs are read (the caller should lock it before the
    job, :func:`lock_submission`, so that locks are taken in one order)."""
    sub = lock_submission(s, job.submission_id)
    job.lease_hash, job.finished_at = None, now
    if job.cancel_requested or sub.status in (CANCELLED, FAILED):
        job.status = JOB_CANCELLED
        return
    if not body.get("ok"):
        job.status = JOB_FAILED
        job.error = str(body.get("reason") or "failed")[:2000]
        fault = FAULT_INFRA if body.get("fault") == FAULT_INFRA else FAULT_MODEL
        _fail_submission(s, sub, f"{job.role}: {job.error}", fault, now)
        return
    job.status, job.result = JOB_DONE, body.get("result") or {}
    if all(j.status == JOB_DONE for j in sub.jobs):
        if (missing := missing_figure(sub)) is not None:
            _fail_submission(s, sub, missing, FAULT_INFRA, now)
            return
        sub.status, sub.stage = SCORING, None
        s.flush()
        score_submission(sub, now)
        return
    running = next((j for j in sub.jobs if j.status == JOB_LEASED), None)  # what the status shows now
    sub.status, sub.stage = (RUNNING, running.role) if running is not None else (QUEUED, None)


def result_problem(job: Job, body: dict) -> str | None:
    """What is wrong with a result that says ``ok`` (None: nothing; a failure report carries no
    metrics): ``result`` must be an object holding what the job's role measures: a fidelity job
    every metric of the task, the score's own (the task's primary metric) as a real number and
    the others as real numbers or null (a worker, or a published row, that did not measure one:
    the reports' ISP table has no MS-SSIM); a runtime job the phase's statistic as a number."""
    import math

    from maikit.tasks import get_task

    if not body.get("ok"):
        return None
    cdef = challenge_def(job.submission.phase)
    if job.role == "fidelity":
        task = get_task(cdef.task)
        need, must = list(task.metric_names), {task.primary_metric}
    elif job.role == "runtime":
        need = [STATISTICS[cdef.protocol.statistic]]
        must = set(need)
    else:
        return None
    result = body.get("result")
    if not isinstance(result, dict):
        return f"'result' is {'missing' if result is None else 'not an object'} (it must hold {', '.join(need)})"

    def number(v) -> bool:
        return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)

    missing = [k for k in need if k not in result]
    bad = [k for k in need if k in result and not number(result[k]) and (k in must or result[k] is not None)]
    parts = ([f"'result' lacks {', '.join(missing)}"] if missing else []) \
        + ([f"{', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not a finite number"] if bad else [])
    return "; ".join(parts) or None


def unusable_result(s: Session, job: Job, problem: str, now: datetime) -> str:
    """A worker's result for a job it holds said ``ok`` but is unusable (:func:`result_problem`):
    the lease is taken back at once, as if it had expired (not left to run out), and the job
    goes back to the queue for another attempt; out of attempts, it fails and its submission
    fails as an infrastructure failure (never the participant's: quota refunded). What
    happened, in words. The submission is locked by the caller (:func:`lock_submission`)."""
    from maikit.server.jobs.queue import requeue_or_fail

    attempt = job.attempt
    if not requeue_or_fail(job, now):
        job.error = f"the workers' results were unusable {attempt} times ({problem}); infrastructure failure"
        job_failed_infra(s, job, now)
        return f"failed after {attempt} attempts (an infrastructure failure, not the model's)"
    if job.status == JOB_CANCELLED:
        return "was cancelled meanwhile"
    sub = job.submission
    if sub.status == RUNNING and not any(j.status == JOB_LEASED for j in sub.jobs if j.id != job.id):
        sub.status, sub.stage = QUEUED, None
    return f"is back in the queue ({attempt} of {job.max_attempts} attempts used)"


def missing_figure(sub: Submission) -> str | None:
    """Why the runtime result cannot be scored by the phase's protocol (a device that reports
    no CPU time where the score reads it: not the participant's fault), or None."""
    cdef = challenge_def(sub.phase)
    if cdef.protocol.statistic_basis != "cpu":
        return None
    run = next((j.result for j in sub.jobs if j.role == "runtime"), None) or {}
    if run.get("cpu_" + STATISTICS[cdef.protocol.statistic]) is None:
        return (f"runtime: the device (backend {run.get('backend') or 'unknown'}) reported no CPU time, and this "
                "challenge scores CPU time (protocol.statistic_basis: cpu): a litert-cpu worker measures it")
    return None


def score_submission(sub: Submission, now: datetime) -> None:
    from maikit.scoring import score
    from maikit.tasks import get_task

    cdef = challenge_def(sub.phase)
    spec = get_task(cdef.task)
    results = {j.role: j.result for j in sub.jobs}
    fid, run = results["fidelity"], results["runtime"]
    if (missing := missing_figure(sub)) is not None:
        raise MaikitError(missing)
    key = STATISTICS[cdef.protocol.statistic]
    runtime_ms = float(run[key])  # wall time, whatever the score reads
    cpu_ms = run.get("cpu_" + key)
    metrics = {name: fid[name] for name in spec.metric_names}
    metrics["images"] = fid.get("images")
    metrics["runtime_ms"] = runtime_ms
    metrics["cpu_ms"] = None if cpu_ms is None else float(cpu_ms)
    metrics["runtime_basis"] = basis = cdef.protocol.statistic_basis
    sub.metrics = metrics
    sub.runtime_ms = runtime_ms
    sub.runtime_shape = run.get("input_shape")
    scored_ms = float(cpu_ms) if basis == "cpu" else runtime_ms
    fidelity = float(fid[spec.primary_metric])
    sub.score = float(score(spec, fidelity, scored_ms))
    # the interval of the figure the score reads (the CPU time's samples in a phase scored on it)
    samples = run.get("cpu_samples_ms") if basis == "cpu" else run.get("samples_ms")
    sub.runtime_interval = result_interval(run, samples, cdef.protocol.statistic,
                                           lambda ms: float(score(spec, fidelity, ms)))
    sub.flags = result_flags(run)
    sub.status, sub.finished_at = FINISHED, now


def result_interval(run: dict, samples: list | None, statistic: str, score_of) -> dict:
    """The runtime's confidence interval from its raw ``samples``, the drift attempts' spread, and
    the score's interval the formula gives for the runtime's ends (:mod:`maikit.scoring.intervals`)."""
    from maikit.scoring.intervals import attempts_spread, runtime_interval, score_interval

    out = runtime_interval(samples, statistic)
    ends = score_interval(score_of, out["low_ms"], out["high_ms"])
    out["score_low"], out["score_high"] = ends if ends is not None else (None, None)
    out["attempts"] = attempts_spread(run.get("drift"))
    return out


def result_flags(run: dict) -> list[str]:
    """Why a runtime result is not a clean measurement (empty: clean): drift control found no
    clean attempt, the delegate asked for did not apply, the file was not timed at the phase's shape."""
    flags = []
    drift = run.get("drift")
    if drift and not drift.get("ok", True):
        flags.append(f"drift control: no attempt of {len(drift.get('attempts') or [])} was clean "
                     f"(reference drift {float(drift.get('drift') or 0.0):.1%})")
    flags += [str(w) for w in run.get("warnings") or []]
    return flags


# why a submission was cancelled (its ``reason``), by whom
CANCELLED_BY_ORGANISER, CANCELLED_BY_OWNER = "cancelled by an organiser", "cancelled by its owner"


def cancel_submission(s: Session, sub: Submission, now: datetime, reason: str = CANCELLED_BY_ORGANISER) -> None:
    """Cancel in any status: queued jobs are dropped, running ones told at their next heartbeat."""
    for job in sub.jobs:
        if job.status == JOB_QUEUED:
            job.status, job.finished_at = JOB_CANCELLED, now
        elif job.status == JOB_LEASED:
            job.cancel_requested = True
    sub.status, sub.stage, sub.finished_at = CANCELLED, None, now
    sub.reason = sub.reason or reason


def kept_fidelity(sub: Submission) -> Job | None:
    """The submission's finished fidelity job (what a runtime-only re-measure keeps), or None."""
    return next((j for j in sub.jobs if j.role == "fidelity" and j.status == JOB_DONE and j.result), None)


def rerun_refusal(sub: Submission, runtime_only: bool = False) -> str | None:
    """Why this submission cannot be re-run (or its runtime re-measured), or None."""
    if sub.stage == "preflight":
        return "a file rejected at preflight cannot be re-run"
    if sub.superseded:  # (read under the submission's lock: of two re-runs at once, the second is refused)
        return f"submission {sub.id} was re-run already: re-run its newest run"
    if runtime_only and kept_fidelity(sub) is None:
        return f"submission {sub.id} has no finished fidelity result to keep: re-run it whole"
    return None


def rerun_submission(s: Session, sub: Submission, now: datetime, max_attempts: int,
                     runtime_only: bool = False) -> Submission:
    """A new submission of the same files (lineage: ``parent_id``); the old one is superseded
    (cancelled first when still active). Re-runs never count toward quota. ``runtime_only``
    keeps the old fidelity result (a done fidelity job with its result, no work) and queues
    the runtime job alone: a re-measure."""
    sub = lock_submission(s, sub.id)
    fidelity = kept_fidelity(sub) if runtime_only else None
    if sub.status not in (FINISHED, FAILED, CANCELLED):
        cancel_submission(s, sub, now)
    sub.superseded = True
    new = Submission(phase_id=sub.phase_id, user_id=sub.user_id, owner_key=sub.owner_key, status=QUEUED,
                     counts_quota=False, parent_id=sub.id, lineage_id=sub.lineage_id or sub.id,
                     runtime_sha256=sub.runtime_sha256,
                     fidelity_sha256=sub.fidelity_sha256, size_bytes=sub.size_bytes, preflight=sub.preflight,
                     description=sub.description,
                     selected=sub.selected, created_at=sub.created_at)
    s.add(new)
    s.flush()
    cdef = challenge_def(sub.phase)
    if fidelity is None:
        create_jobs(s, new, cdef, now=now, max_attempts=max_attempts)
        return new
    kept = Job(submission_id=new.id, role="fidelity", device_tag=None, status=JOB_DONE, attempt=fidelity.attempt,
               max_attempts=max_attempts, result=dict(fidelity.result), created_at=now, finished_at=now)
    s.add_all([kept, Job(submission_id=new.id, role="runtime", device_tag=cdef.protocol.device, status=JOB_QUEUED,
                         attempt=0, max_attempts=max_attempts, created_at=now)])
    s.flush()
    s.add(JobLog(job_id=kept.id, attempt=kept.attempt, created_at=now,
                 text=f"[fidelity] kept from submission {sub.id}: only the runtime is measured again\n"))
    new.status, new.stage = QUEUED, None
    return new


def rerun_phase(s: Session, phase: Phase, now: datetime, max_attempts: int, runtime_only: bool = False,
                flagged_only: bool = False) -> list[int]:
    """Re-run the newest submission of every lineage in the phase (not preflight rejections);
    ``flagged_only``: only finished ones whose result is flagged; ``runtime_only``: re-measure
    the runtime of those with a finished fidelity result. The new submissions' ids."""
    subs = s.execute(select(Submission).where(Submission.phase_id == phase.id, Submission.superseded.is_(False),
                                              Submission.stage.is_distinct_from("preflight"))
                     .order_by(Submission.id)).scalars().all()
    if flagged_only:
        subs = [sub for sub in subs if sub.status == FINISHED and sub.flags]
    return [rerun_submission(s, sub, now, max_attempts, runtime_only).id for sub in subs
            if rerun_refusal(sub, runtime_only) is None]


def reap(s: Session, now: datetime) -> int:
    """Requeue jobs whose lease expired (fail those out of attempts); how many were touched."""
    from maikit.server.jobs.queue import expired, requeue_or_fail

    jobs = expired(s, now)
    for job in jobs:
        if not requeue_or_fail(job, now):
            job_failed_infra(s, job, now)
        elif job.status == JOB_QUEUED:
            sub = job.submission
            if sub.status == RUNNING and not any(j.status == JOB_LEASED for j in sub.jobs if j.id != job.id):
                sub.status, sub.stage = QUEUED, None
    return len(jobs)


def contradiction(sub: Submission) -> str | None:
    """What in a submission's status contradicts its jobs' states (None: nothing). Every change
    moves both in one transaction, so this is only ever left by a fault (a race of an older
    version, a bug): :func:`repair` puts it right."""
    jobs = sub.jobs
    if sub.status in ACTIVE_STATUSES:
        failed = next((j for j in jobs if j.status == JOB_FAILED), None)
        if failed is not None:
            return f"its {failed.role} job failed but the submission is {sub.status}"
        if jobs and all(j.status == JOB_DONE for j in jobs):
            return f"every job is done but the submission is {sub.status}"
        if not any(j.status in (JOB_QUEUED, JOB_LEASED) for j in jobs):
            return f"no job is left to run but the submission is {sub.status}"
    elif any(j.status == JOB_QUEUED for j in jobs):
        return f"the submission is {sub.status} but a job of it is still queued"
    return None


def repair(s: Session, sub: Submission, now: datetime, max_attempts: int) -> str | None:
    """Put right what :func:`contradiction` finds (the caller holds the submission's lock,
    :func:`lock_submission`): a failed job fails the submission (an infrastructure failure,
    so it costs the participant nothing); all jobs done scores it (Finished; a failure if the
    results cannot be scored); no job left requeues the jobs not done (new ones if it has
    none); a finished, failed or cancelled submission's queued jobs are cancelled. What it
    found and did, or None (nothing to repair)."""
    found = contradiction(sub)
    if found is None:
        return None
    jobs = sub.jobs
    if sub.status not in ACTIVE_STATUSES:
        for j in jobs:
            if j.status == JOB_QUEUED:
                j.status, j.finished_at = JOB_CANCELLED, now
        return f"{found}: its queued jobs cancelled"
    failed = next((j for j in jobs if j.status == JOB_FAILED), None)
    if failed is not None:
        _fail_submission(s, sub, f"{failed.role}: {failed.error or 'failed'}", FAULT_INFRA, now)
        return f"{found}: failed it as an infrastructure failure"
    if jobs and all(j.status == JOB_DONE for j in jobs):
        try:
            sub.status, sub.stage = SCORING, None
            score_submission(sub, now)
        except (KeyError, TypeError, ValueError, MaikitError) as e:
            _fail_submission(s, sub, f"scoring: the jobs' results could not be scored ({e!r})", FAULT_INFRA, now)
            return f"{found}: its results could not be scored ({e!r}); failed it as an infrastructure failure"
        return f"{found}: scored it ({sub.score:g}), Finished"
    if not jobs:
        create_jobs(s, sub, challenge_def(sub.phase), now=now, max_attempts=max_attempts)
        return f"{found}: it had no jobs; queued new ones"
    again = [j for j in jobs if j.status != JOB_DONE]
    for j in again:
        j.status, j.cancel_requested, j.finished_at = JOB_QUEUED, False, None
        j.worker_id, j.lease_hash, j.lease_expires_at = None, None, None
    sub.status, sub.stage = QUEUED, None
    return f"{found}: requeued its {' and '.join(j.role for j in again)} job{'s' if len(again) > 1 else ''}"


def contradicting(s: Session) -> list[int]:
    """The submissions that may contradict their jobs (:func:`contradiction` decides under the
    lock): active with a failed job or with none queued or leased; done with a queued job."""
    pending = select(Job.id).where(Job.submission_id == Submission.id,
                                   Job.status.in_((JOB_QUEUED, JOB_LEASED))).exists()
    failed = select(Job.id).where(Job.submission_id == Submission.id, Job.status == JOB_FAILED).exists()
    active = s.execute(select(Submission.id).where(Submission.status.in_(ACTIVE_STATUSES), or_(~pending, failed)))
    done = s.execute(select(Job.submission_id).join(Submission, Submission.id == Job.submission_id)
                     .where(Job.status == JOB_QUEUED, Submission.status.not_in(ACTIVE_STATUSES)))
    return sorted({*active.scalars(), *done.scalars()})


def _default_convention(task: str) -> str | None:
    """The task's default RAW convention by name (None for a task without RAW input)."""
    from maikit.tasks import get_task

    conv = get_task(task).raw_convention
    return conv.name if conv is not None else None
