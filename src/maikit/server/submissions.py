"""A submission's server-side actions shared by the API and the web pages: accept an upload
(preflight, quota, jobs), read its per-stage logs, export a phase.

Refusals are raised as ``HTTPException`` with the status the API answers (403 phase
closed, 413 too large, 429 quota); a file rejected at preflight is not an exception but an
:class:`Upload` with ``ok=False`` (it is stored as a Failed submission that costs no quota).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from fastapi import HTTPException
from sqlalchemy import select

from maikit.server.challenge import ChallengeDef
from maikit.server.db.models import FAILED, FAULT_MODEL, JobLog, Submission, User
from maikit.server.quota import lock_owner, owner_key, usage
from maikit.server.store import TooLarge


@dataclass
class Upload:
    ok: bool
    submission_id: int
    detail: str | None = None  # the preflight reason when not ok
    public: object | None = None  # SubmissionPublic when ok (quota filled in)


def run_preflight(st, files: dict, cdef: ChallengeDef) -> dict:
    from maikit.worker.sandbox import Limits, SandboxFailure

    limits = Limits(memory_mb=st.settings.preflight_memory_mb, cpu_s=st.settings.preflight_timeout_s,
                    wall_s=st.settings.preflight_timeout_s, nice=st.settings.preflight_nice)
    try:
        with st.preflight_slots:  # at most N children at once; the others wait their turn
            return {"ok": True, **st.sandbox("preflight", {"files": {k: str(v) for k, v in files.items()},
                                                                "task": cdef.task, "target": cdef.protocol.target}, limits)}
    except SandboxFailure as e:
        return {"ok": False, "reason": e.reason, "kind": e.kind}


def submit_upload(st, u: User, slug: str, phase: str, runtime_file: BinaryIO, fidelity_file: BinaryIO | None = None,
                  declared_length: str | None = None, description: str = "") -> Upload:
    """Upload a model: preflight at once (free), then quota, then the fidelity and runtime jobs."""
    from maikit.server.api.routes.challenges import get_phase
    from maikit.server.api.routes.submissions import submission_public
    from maikit.server.jobs.pipeline import create_jobs

    now = st.now()
    with st.db.read() as s:
        c, p, cdef = get_phase(s, slug, phase)
        pdef = cdef.phase(p.slug)
        if not (p.start <= now < p.end):
            when = f"opens {p.start.isoformat()}" if now < p.start else f"closed {p.end.isoformat()}"
            raise HTTPException(403, f"phase {phase!r} of {slug!r} is not open: it {when}")
        owner = owner_key(u)
        failed_refusal = usage(s, phase_id=p.id, owner=owner, pdef=pdef, now=now).failed_refusal()
        phase_id = p.id
    if failed_refusal:
        raise HTTPException(429, failed_refusal)
    cap = upload_cap_bytes(cdef)
    if declared_length and declared_length.isdigit() and int(declared_length) > body_limit(cdef):
        raise HTTPException(413, f"upload larger than the challenge's cap of {cdef.upload_cap_mb:g} MB")
    spooled: dict = {}
    try:
        for role, up in (("runtime", runtime_file), ("fidelity", fidelity_file)):
            if up is None:
                continue
            try:
                spooled[role] = st.store.spool(up, cap)
            except TooLarge:
                raise HTTPException(413, f"{role} file larger than the challenge's cap of {cdef.upload_cap_mb:g} MB")
        if "fidelity" not in spooled:
            spooled["fidelity"] = spooled["runtime"]
        paths = {"runtime": spooled["runtime"][0]}
        if spooled["fidelity"] is not spooled["runtime"]:
            paths["fidelity"] = spooled["fidelity"][0]
        verdict = run_preflight(st, paths, cdef)
        size = spooled["runtime"][2]
        if not verdict["ok"]:
            with st.db.write() as s, s.begin():
                sub = Submission(phase_id=phase_id, user_id=u.id, owner_key=owner, status=FAILED, stage="preflight",
                                 reason=f"preflight: {verdict['reason']}", fault=FAULT_MODEL, counts_quota=False,
                                 size_bytes=size, runtime_sha256=spooled["runtime"][1],
                                 fidelity_sha256=spooled["fidelity"][1], created_at=now, finished_at=now,
                                 description=description or None,
                                 preflight={"ok": False, "reason": verdict["reason"]})
                s.add(sub)
                s.flush()
                return Upload(False, sub.id, f"preflight: {verdict['reason']}")
        with st.db.write() as s, s.begin():
            lock_owner(s, u)
            use = usage(s, phase_id=phase_id, owner=owner, pdef=pdef, now=now)
            refusal = use.refusal()
            if refusal:
                raise HTTPException(429, refusal)
            for role, (tmp, sha, _size) in spooled.items():
                if tmp.exists():
                    st.store.keep(tmp, sha)
            sub = Submission(phase_id=phase_id, user_id=u.id, owner_key=owner, status="Submitted", counts_quota=True,
                             size_bytes=size, runtime_sha256=spooled["runtime"][1], fidelity_sha256=spooled["fidelity"][1],
                             created_at=now, preflight=verdict, description=description or None)
            s.add(sub)
            s.flush()
            create_jobs(s, sub, cdef, now=st.now(), max_attempts=st.settings.max_attempts)  # queued from now
            s.flush()
            s.refresh(sub)
            out = submission_public(s, sub, u)
        out.quota = use.to_dict() | {"used_today": use.used_today + 1, "used_total": use.used_total + 1}
        return Upload(True, out.id, None, out)
    finally:
        for tmp, _sha, _size in spooled.values():
            tmp.unlink(missing_ok=True)


def upload_cap_bytes(cdef: ChallengeDef) -> int:
    """The largest file accepted, per file."""
    return int(cdef.upload_cap_mb * 1e6)


def body_limit(cdef: ChallengeDef) -> int:
    """The largest request body accepted: two files at the cap plus room for the form's fields."""
    return 2 * upload_cap_bytes(cdef) + 1_000_000


def stage_logs(s, sub: Submission) -> dict:
    """The log of every stage: the preflight verdict, then each job's status, attempt, error and text."""
    stages: dict = {"preflight": sub.preflight}
    for job in sub.jobs:
        logs = s.execute(select(JobLog).where(JobLog.job_id == job.id).order_by(JobLog.id)).scalars().all()
        stages[job.role] = {"status": job.status, "attempt": job.attempt, "error": job.error,
                            "log": "".join(entry.text for entry in logs)}
    return stages


def export_rows(s, phase_id: int) -> list[dict]:
    """Every submission of a phase with its metrics, runtime samples, fingerprint and files' sha256."""
    subs = s.execute(select(Submission).where(Submission.phase_id == phase_id).order_by(Submission.id)).scalars().all()
    rows = []
    for sub in subs:
        jobs = {j.role: j for j in sub.jobs}
        run = (jobs.get("runtime").result or {}) if jobs.get("runtime") else {}
        fid = (jobs.get("fidelity").result or {}) if jobs.get("fidelity") else {}
        rows.append({
            "id": sub.id, "user": sub.user.username, "owner": sub.owner_key, "status": sub.status, "stage": sub.stage,
            "reason": sub.reason, "fault": sub.fault, "parent_id": sub.parent_id, "superseded": sub.superseded,
            "created_at": sub.created_at.isoformat(), "finished_at": sub.finished_at.isoformat() if sub.finished_at else None,
            "sha256": sub.runtime_sha256, "fidelity_sha256": sub.fidelity_sha256, "size_bytes": sub.size_bytes,
            "score": sub.score, "runtime_ms": sub.runtime_ms, "metrics": sub.metrics,
            "runtime": {k: run.get(k) for k in ("avg_ms", "std_ms", "p50_ms", "p90_ms", "min_ms", "runs", "samples_ms",
                                                 "threads", "input_shape", "settings", "worker",
                                                 "backend", "cv", "drift", "op_profile", "op_profile_note", "findings",
                                                 "compatibility", "delegate", "notes")},
            "fingerprint": run.get("fingerprint") or {k: run.get(k) for k in ("cpu", "machine", "runtime_version", "versions")},
            "versions": {"runtime": run.get("versions_worker"), "fidelity": fid.get("versions_worker")},
        })
    return rows


def export_csv(rows: list[dict]) -> str:
    import csv
    import io
    import json

    buf = io.StringIO()
    keys = ["id", "user", "status", "reason", "score", "runtime_ms", "metrics", "size_bytes", "sha256", "created_at",
            "samples_ms", "cpu", "runtime_version"]
    w = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r, "metrics": json.dumps(r["metrics"]) if r["metrics"] else "",
                    "samples_ms": " ".join(f"{v:.4f}" for v in (r["runtime"]["samples_ms"] or [])),
                    "cpu": (r["fingerprint"] or {}).get("cpu"), "runtime_version": (r["fingerprint"] or {}).get("runtime_version")})
    return buf.getvalue()
