"""Submissions: accept an upload (preflight, quota, jobs), who may see one and what of it
(the public view, with results hidden until a hidden phase is published), list, stage logs,
files, cancel, re-run, select for the board, export a phase.

A file rejected at preflight is not an error but an :class:`Upload` with ``ok=False`` (it is
stored as a Failed submission that costs no quota); refusals are :mod:`maikit.server.errors`
(PhaseClosed, TooLarge, QuotaExceeded, NotFound, Conflict).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from maikit.csvsafe import csv_text
from maikit.errors import MaikitError
from maikit.server.bundle import BundleDef
from maikit.server.challenge import ChallengeDef
from maikit.server.db.models import (ACTIVE_STATUSES, CANCELLED, FAILED, FAULT_MODEL, JOB_DONE, JOB_QUEUED, Challenge,
                                     Job, JobLog, Phase, Submission, User, Worker)
from maikit.server.errors import Conflict, Invalid, NotFound, PhaseClosed, QuotaExceeded, TooLarge
from maikit.server.factsheet import FACTSHEET_MAX_BYTES, parse_factsheet
from maikit.server.jobs.pipeline import (CANCELLED_BY_ORGANISER, CANCELLED_BY_OWNER, cancel_submission, create_jobs,
                                         lock_submission, rerun_refusal, rerun_submission)
from maikit.server.services import factsheets
from maikit.server.services.challenges import ChallengePublic, challenge_public
from maikit.server.services.lookup import get_phase
from maikit.server.services.quota import lock_owner, owner_key, usage
from maikit.server.services.workers import submission_waiting
from maikit.server.state import Platform
from maikit.server.store import Spooled


class SubmissionPublic(BaseModel):
    """A submission as its owner (or team) and the organisers see it."""

    id: int
    challenge: str
    phase: str
    user: str
    status: str
    stage: str | None
    reason: str | None
    fault: str | None
    metrics: dict | None
    runtime_ms: float | None
    score: float | None
    runtime_shape: list | None = None  # the input shape the runtime was timed at
    # the runtime's and the score's 95 % interval, the drift attempts' spread (maikit.scoring.intervals)
    runtime_interval: dict | None = None
    flags: list | None = None  # why the runtime result is flagged (empty: a clean measurement)
    size_bytes: int | None
    description: str | None = None
    sha256: str | None
    fidelity_sha256: str | None
    code: dict | None = None  # the bundle's code archive: sha256, size_bytes, format
    preflight: dict | None
    parent_id: int | None
    selected: bool
    counts_quota: bool
    created_at: str
    finished_at: str | None
    queue_position: int | None = None
    # what a queued job waits for when no worker can take it (none serves its device, ...), and
    # by when the submission fails if none comes; None while workers are there to take it
    waiting: str | None = None
    quota: dict | None = None
    # from a device worker (mai worker --backend): drift figures, per-op profile, op findings
    runtime_details: dict | None = None


def results_hidden(phase: Phase, cdef: ChallengeDef, u: User | None) -> bool:
    """Scores of a hidden-until-published phase are for organisers until it is published."""
    if u is not None and u.is_organiser:
        return False
    return cdef.phase(phase.slug).visibility == "hidden-until-published" and not phase.published


def hidden_data(phase: Phase, u: User | None) -> bool:
    """Whether ``u`` must not learn anything about the phase's reference data: a participant (or
    anyone signed out) in a ``test`` phase, whose split is the hidden test data."""
    return phase.kind == "test" and not (u is not None and u.is_organiser)


# what a participant reads instead of a text that may name the hidden data (file names, image
# sizes, counts): the full text is stored once and shown to the organisers (redacted at read
# time, by role: one stored truth, nothing lost for the organisers, one place that decides)
HIDDEN_FIDELITY_REASON = ("fidelity: the fidelity file failed on the hidden test data; the full message names that data, "
                          "so only the organisers see it (a fidelity file with dynamic height and width runs at any "
                          "image size; the validation phase shows its reasons in full)")
HIDDEN_FIDELITY_LOG = "(the fidelity stage reads the hidden test data: its log is shown to the organisers only)\n"
HIDDEN_RUNTIME_LOG = ("(the runtime stage's log holds the measurement: it is shown once the organisers publish this "
                      "phase's results)\n")


def visible_reason(sub: Submission, u: User | None) -> str | None:
    """The submission's reason as ``u`` may read it: a fidelity failure in a phase with hidden
    data becomes :data:`HIDDEN_FIDELITY_REASON` for participants (the organisers read it whole)."""
    if sub.reason and sub.reason.startswith("fidelity:") and hidden_data(sub.phase, u):
        return HIDDEN_FIDELITY_REASON
    return sub.reason


def submission_public(s: Session, sub: Submission, u: User | None) -> SubmissionPublic:
    phase = sub.phase
    cdef = ChallengeDef.model_validate(phase.challenge.definition)
    hidden = results_hidden(phase, cdef, u)
    metrics = sub.metrics
    if metrics and hidden_data(phase, u):  # the count of hidden images is the hidden data's
        metrics = {k: v for k, v in metrics.items() if k != "images"}
    position = None
    if sub.status in ACTIVE_STATUSES:
        first = min((j.id for j in sub.jobs if j.status == JOB_QUEUED), default=None)
        if first is not None:
            position = int(s.scalar(select(func.count()).select_from(Job).where(Job.status == JOB_QUEUED, Job.id < first)))
    return SubmissionPublic(
        id=sub.id, challenge=cdef.slug, phase=phase.slug, user=sub.user.username, status=sub.status, stage=sub.stage,
        reason=visible_reason(sub, u), fault=sub.fault, metrics=None if hidden else metrics,
        runtime_ms=None if hidden else sub.runtime_ms, score=None if hidden else sub.score, runtime_shape=sub.runtime_shape,
        runtime_interval=None if hidden else sub.runtime_interval, flags=None if hidden else sub.flags,
        size_bytes=sub.size_bytes, description=sub.description, sha256=sub.runtime_sha256, fidelity_sha256=sub.fidelity_sha256,
        code=code_info(sub), preflight=sub.preflight, parent_id=sub.parent_id, selected=sub.selected, counts_quota=sub.counts_quota,
        created_at=sub.created_at.isoformat(), finished_at=sub.finished_at.isoformat() if sub.finished_at else None,
        queue_position=position, runtime_details=None if hidden else runtime_details(sub))


def code_info(sub: Submission) -> dict | None:
    """The submission's code archive as its owner and the organisers see it (None: none)."""
    if sub.code_sha256 is None or sub.code_size_bytes is None:
        return None
    return {"sha256": sub.code_sha256, "size_bytes": sub.code_size_bytes, "format": sub.code_format}


# what a device runner adds to a runtime result (the export carries them too)
DEVICE_KEYS = ("backend", "cv", "drift", "op_profile", "op_profile_note", "findings", "compatibility", "delegate", "notes")


def runtime_details(sub: Submission) -> dict | None:
    """What a device runner adds to a runtime result (None for a worker without one)."""
    run = next((j.result for j in sub.jobs if j.role == "runtime" and j.result), None) or {}
    details = {k: run[k] for k in DEVICE_KEYS if k in run}
    return details or None


def visible_submission(s: Session, sub_id: int, u: User) -> Submission:
    """The submission if ``u`` may see it (its owner, its team, or an organiser); NotFound otherwise."""
    # what submission_public reads, in two queries instead of one per relationship
    sub = s.get(Submission, sub_id, options=[joinedload(Submission.phase).joinedload(Phase.challenge),
                                             joinedload(Submission.user), selectinload(Submission.jobs)])
    if sub is None or not (u.is_organiser or sub.owner_key == owner_key(u)):
        raise NotFound(f"no submission {sub_id}")
    return sub


# what a rejection at preflight costs, in the words the reply, the pages and the docs use
REJECTION_COUNTS = ("a file rejected at preflight uses none of your submission quota (max_submissions_per_day, "
                    "max_submissions), but it counts as one failed attempt toward the phase's daily failed-attempt "
                    "limit (max_failed_per_day)")


def failed_attempts_words(quota: dict) -> str:
    """``N of M failed attempts used today`` (or ``N failed attempts today (no limit)``)."""
    n, cap = quota["failed_today"], quota["max_failed_per_day"]
    return (f"{n} failed attempt{'s' if n != 1 else ''} today (no limit)" if cap is None
            else f"{n} of {cap} failed attempts used today")


@dataclass
class Upload:
    ok: bool
    submission_id: int
    detail: str | None = None  # the preflight reason when not ok
    public: SubmissionPublic | None = None  # when ok (quota filled in)
    quota: dict | None = None  # when not ok: the owner's use after this rejection (Usage.to_dict)


def run_preflight(p: Platform, files: dict, cdef: ChallengeDef, code: Path | None = None,
                  code_unpacked_cap: int | None = None) -> dict:
    from maikit.worker.sandbox import Limits, SandboxFailure

    limits = Limits(memory_mb=p.settings.preflight_memory_mb, cpu_s=p.settings.preflight_timeout_s,
                    wall_s=p.settings.preflight_timeout_s, nice=p.settings.preflight_nice)
    kwargs = {"files": {k: str(v) for k, v in files.items()}, "task": cdef.task, "target": cdef.protocol.target,
              "input_shape": cdef.protocol.timed_shape(cdef.task)}
    if code is not None:
        kwargs |= {"code": str(code), "code_unpacked_cap": code_unpacked_cap}
    try:
        with p.preflight_slots:  # at most N children at once; the others wait their turn
            return {"ok": True, **p.sandbox("preflight", kwargs, limits)}
    except SandboxFailure as e:
        return {"ok": False, "reason": e.reason, "kind": e.kind}


def missing_parts(bundle: BundleDef, *, code: bool, factsheet: bool) -> str | None:
    """What a phase's bundle lacks (None: complete): the parts it requires that are not there."""
    missing = [what for what, need, have in (("the code archive", bundle.code, code), ("the factsheet", bundle.factsheet, factsheet))
               if need == "required" and not have]
    if not missing:
        return None
    how = {"the code archive": "--code FILE", "the factsheet": "--factsheet FILE, or write it on the phase's factsheet page"}
    return (f"incomplete bundle: this phase needs {' and '.join(missing)} beside the model "
            f"({'; '.join(how[m] for m in missing)})")


def _refuse_extras(bundle: BundleDef, phase: str, code: bool, factsheet: bool) -> None:
    extra = [what for what, want, have in (("a code archive", bundle.code, code), ("a factsheet", bundle.factsheet, factsheet))
             if want == "none" and have]
    if extra:
        raise Invalid(f"phase {phase!r} takes no {' and no '.join(e.removeprefix('a ') for e in extra)}; "
                      "send the model file(s) only")


def _refuse_closed(ph: Phase, slug: str, phase: str, now: datetime) -> None:
    if ph.kind == "development":
        raise PhaseClosed(f"phase {phase!r} of {slug!r} takes no uploads: it is for training and timing models "
                          f"locally (mai eval, mai bench); submit to a validation phase")
    if not (ph.start <= now < ph.end):
        when = f"opens {ph.start.isoformat()}" if now < ph.start else f"closed {ph.end.isoformat()}"
        raise PhaseClosed(f"phase {phase!r} of {slug!r} is not open: it {when}")


@dataclass
class UploadTerms:
    """What an upload to a phase may carry, in bytes: each model file, the code archive (None:
    the phase takes none), the factsheet (None: none), the whole request body."""

    file_cap: int
    code_cap: int | None
    factsheet_cap: int | None
    body_limit: int
    upload_cap_mb: float
    code_cap_mb: float


def upload_terms(p: Platform, u: User, slug: str, phase: str) -> UploadTerms:
    """The caps of an upload by ``u`` to this phase, before any of its body is read: NotFound,
    PhaseClosed, or QuotaExceeded (the failed-upload limit) refuse it first, as
    :func:`submit_upload` would."""
    now = p.now()
    with p.db.read() as s:
        _c, ph, cdef = get_phase(s, slug, phase)
        pdef = cdef.phase(ph.slug)
        _refuse_closed(ph, slug, phase, now)
        failed_refusal = usage(s, phase_id=ph.id, owner=owner_key(u), pdef=pdef, now=now).failed_refusal()
    if failed_refusal:
        raise QuotaExceeded(failed_refusal)
    return UploadTerms(file_cap=upload_cap_bytes(cdef),
                       code_cap=code_cap_bytes(pdef) if pdef.bundle.code != "none" else None,
                       factsheet_cap=FACTSHEET_MAX_BYTES if pdef.bundle.factsheet != "none" else None,
                       body_limit=body_limit(cdef, ph.slug), upload_cap_mb=cdef.upload_cap_mb,
                       code_cap_mb=pdef.bundle.code_cap_mb)


def submit_upload(p: Platform, u: User, slug: str, phase: str, runtime_file: BinaryIO | Spooled,
                  fidelity_file: BinaryIO | Spooled | None = None, declared_length: str | None = None,
                  description: str = "", *, code_file: BinaryIO | Spooled | None = None,
                  factsheet: bytes | None = None) -> Upload:
    """Upload a model: preflight at once (free), then quota, then the fidelity and runtime jobs
    (a blocking call: the preflight child and the database; run it with ``p.run_upload``).

    A phase with a ``bundle`` takes a code archive (``code_file``) and a factsheet (YAML or
    JSON bytes) too; preflight refuses a bundle that lacks a required part, a factsheet with a
    bad field and an archive that is not a safe one (:func:`maikit.archive.check_archive`, in
    the preflight child), naming what is wrong. An accepted factsheet becomes the owner's
    factsheet for the phase (:mod:`~maikit.server.services.factsheets`).

    A file may come already written to the store's temporary folder (:class:`Spooled`, by a
    route that streamed the body there under its cap); it is removed at the end either way.
    A store that cannot take a file is StoreUnavailable (507), before any row is written."""
    now = p.now()
    with p.db.read() as s:
        _c, ph, cdef = get_phase(s, slug, phase)
        pdef = cdef.phase(ph.slug)
        _refuse_closed(ph, slug, phase, now)
        owner = owner_key(u)
        failed_refusal = usage(s, phase_id=ph.id, owner=owner, pdef=pdef, now=now).failed_refusal()
        phase_id = ph.id
        sheet_on_file = pdef.bundle.factsheet != "none" and factsheets.row_of(s, ph.id, owner) is not None
    if failed_refusal:
        raise QuotaExceeded(failed_refusal)
    _refuse_extras(pdef.bundle, phase, code_file is not None, factsheet is not None)
    cap = upload_cap_bytes(cdef)
    if declared_length and declared_length.isdigit() and int(declared_length) > body_limit(cdef, phase):
        raise TooLarge(f"upload larger than the challenge's cap of {cdef.upload_cap_mb:g} MB")
    spooled: dict = {}
    code = None  # the spooled code archive (path, sha256, size)
    try:
        for role, up in (("runtime", runtime_file), ("fidelity", fidelity_file)):
            if up is None:
                continue
            try:
                spooled[role] = _spooled(p, up, cap)
            except TooLarge:
                raise TooLarge(f"{role} file larger than the challenge's cap of {cdef.upload_cap_mb:g} MB")
        if "fidelity" not in spooled:
            spooled["fidelity"] = spooled["runtime"]
        if code_file is not None:
            try:
                code = _spooled(p, code_file, code_cap_bytes(pdef))
            except TooLarge:
                raise TooLarge(f"code archive larger than the phase's cap of {pdef.bundle.code_cap_mb:g} MB")
        paths = {"runtime": spooled["runtime"][0]}
        if spooled["fidelity"] is not spooled["runtime"]:
            paths["fidelity"] = spooled["fidelity"][0]
        sheet, verdict = None, None
        if factsheet is not None:
            try:
                sheet = parse_factsheet(factsheet)
            except MaikitError as e:
                verdict = {"ok": False, "reason": str(e)}
        if verdict is None:
            missing = missing_parts(pdef.bundle, code=code is not None, factsheet=sheet is not None or sheet_on_file)
            verdict = {"ok": False, "reason": missing} if missing else None
        if verdict is None:
            verdict = run_preflight(p, paths, cdef, code[0] if code else None, 20 * code_cap_bytes(pdef))
        size = spooled["runtime"][2]
        if not verdict["ok"]:
            with p.db.write() as s, s.begin():
                _phase_still_there(s, phase_id, slug, phase)
                # counted again under the owner's lock: of simultaneous failures, those past the
                # limit are refused (no row), as simultaneous uploads past the quota are
                lock_owner(s, u)
                refusal = usage(s, phase_id=phase_id, owner=owner, pdef=pdef, now=now).failed_refusal()
                if refusal:
                    raise QuotaExceeded(refusal)
                sub = Submission(phase_id=phase_id, user_id=u.id, owner_key=owner, status=FAILED, stage="preflight",
                                 reason=f"preflight: {verdict['reason']}", fault=FAULT_MODEL, counts_quota=False,
                                 size_bytes=size, runtime_sha256=spooled["runtime"][1],
                                 fidelity_sha256=spooled["fidelity"][1], created_at=now, finished_at=now,
                                 description=description or None, code_sha256=code[1] if code else None,
                                 preflight={"ok": False, "reason": verdict["reason"]})
                s.add(sub)
                s.flush()
                use = usage(s, phase_id=phase_id, owner=owner, pdef=pdef, now=now)
                return Upload(False, sub.id, f"preflight: {verdict['reason']}", quota=use.to_dict())
        with p.db.write() as s, s.begin():
            _phase_still_there(s, phase_id, slug, phase)
            lock_owner(s, u)
            use = usage(s, phase_id=phase_id, owner=owner, pdef=pdef, now=now)
            refusal = use.refusal() or use.failed_refusal()
            if refusal:
                raise QuotaExceeded(refusal)
            for role, (tmp, sha, _size) in [*spooled.items(), *([("code", code)] if code else [])]:
                if tmp.exists():
                    p.store.keep(tmp, sha)
            sub = Submission(phase_id=phase_id, user_id=u.id, owner_key=owner, status="Submitted", counts_quota=True,
                             size_bytes=size, runtime_sha256=spooled["runtime"][1], fidelity_sha256=spooled["fidelity"][1],
                             created_at=now, preflight=verdict, description=description or None)
            if code:
                sub.code_sha256, sub.code_size_bytes, sub.code_format = code[1], code[2], verdict["code"]["format"]
            s.add(sub)
            if sheet is not None:
                factsheets.upsert(s, phase_id, u, sheet, now)
            s.flush()
            create_jobs(s, sub, cdef, now=p.now(), max_attempts=p.settings.max_attempts)  # queued from now
            s.flush()
            s.refresh(sub)
            out = submission_public(s, sub, u)
        out.quota = use.to_dict() | {"used_today": use.used_today + 1, "used_total": use.used_total + 1}
        return Upload(True, out.id, None, out)
    finally:
        for tmp, _sha, _size in [*spooled.values(), *([code] if code else [])]:
            tmp.unlink(missing_ok=True)


def _spooled(p: Platform, up: BinaryIO | Spooled, cap: int) -> Spooled:
    if isinstance(up, Spooled):
        if up.size > cap:
            up.path.unlink(missing_ok=True)
            raise TooLarge(f"over the cap of {cap} bytes")
        return up
    return p.store.spool(up, cap)


def _phase_still_there(s: Session, phase_id: int, slug: str, phase: str) -> None:
    """The phase read at the upload's start, held until it commits (a key-share lock: an
    organiser's removal of the phase waits for it, then sees its submission); NotFound naming
    the phases there are when it was removed while the file was checked, Conflict when another
    phase of its name took its place meanwhile."""
    if s.execute(select(Phase.id).where(Phase.id == phase_id).with_for_update(key_share=True)).first() is None:
        get_phase(s, slug, phase)  # NotFound naming the phases there are now
        raise Conflict(f"phase {phase!r} of challenge {slug!r} was replaced while the file was checked; "
                       "upload it again")


def upload_cap_bytes(cdef: ChallengeDef) -> int:
    """The largest model file accepted, per file."""
    return int(cdef.upload_cap_mb * 1e6)


def code_cap_bytes(pdef) -> int:
    """The largest code archive a phase accepts."""
    return int(pdef.bundle.code_cap_mb * 1e6)


def body_limit(cdef: ChallengeDef, phase: str | None = None) -> int:
    """The largest request body accepted: two model files at the cap, the phase's code archive
    and factsheet when it takes them, plus room for the form's fields."""
    limit = 2 * upload_cap_bytes(cdef) + 1_000_000
    if phase is not None:
        bundle = cdef.phase(phase).bundle
        limit += (code_cap_bytes(cdef.phase(phase)) if bundle.code != "none" else 0)
        limit += FACTSHEET_MAX_BYTES if bundle.factsheet != "none" else 0
    return limit


def stage_logs(s: Session, sub: Submission, u: User | None) -> dict:
    """The log of every stage as ``u`` may read it: the preflight verdict, then each job's status,
    attempt, error and text. For a participant, the fidelity stage of a phase with hidden data
    (:func:`hidden_data`) shows neither its log nor its error (they may name hidden files, sizes,
    counts), and the runtime stage of a phase whose results are hidden until published shows
    no log (it holds the measurement); the organisers read everything."""
    cdef = ChallengeDef.model_validate(sub.phase.challenge.definition)
    no_data, no_results = hidden_data(sub.phase, u), results_hidden(sub.phase, cdef, u)
    stages: dict = {"preflight": sub.preflight}
    for job in sub.jobs:
        logs = s.execute(select(JobLog).where(JobLog.job_id == job.id).order_by(JobLog.id)).scalars().all()
        text, error = "".join(entry.text for entry in logs), job.error
        if job.role == "fidelity" and no_data:
            text = HIDDEN_FIDELITY_LOG
            error = HIDDEN_FIDELITY_REASON.removeprefix("fidelity: ") if error else None
        elif job.role == "runtime" and no_results:
            text = HIDDEN_RUNTIME_LOG
        stages[job.role] = {"status": job.status, "attempt": job.attempt, "error": error, "log": text}
    return stages


def export_rows(s: Session, phase_id: int) -> list[dict]:
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
            "code": code_info(sub), "score": sub.score, "runtime_ms": sub.runtime_ms, "metrics": sub.metrics,
            "runtime_shape": sub.runtime_shape, "runtime_interval": sub.runtime_interval, "flags": sub.flags,
            "lineage_id": sub.lineage_id or sub.id,
            "runtime": {k: run.get(k) for k in ("avg_ms", "std_ms", "p50_ms", "p90_ms", "min_ms", "runs", "samples_ms",
                                                 "cpu_avg_ms", "cpu_std_ms", "cpu_p50_ms", "cpu_p90_ms", "cpu_min_ms",
                                                 "cpu_samples_ms", "threads", "input_shape", "settings", "worker",
                                                 *DEVICE_KEYS)},
            "fingerprint": run.get("fingerprint") or {k: run.get(k) for k in ("cpu", "machine", "runtime_version", "versions")},
            "versions": {"runtime": run.get("versions_worker"), "fidelity": fid.get("versions_worker")},
        })
    return rows


def export_csv(rows: list[dict]) -> str:
    """The phase's submissions (:func:`export_rows`) as CSV for organisers (spreadsheet-safe cells)."""
    import json

    keys = ["id", "user", "status", "reason", "score", "runtime_ms", "metrics", "size_bytes", "sha256", "created_at",
            "samples_ms", "cpu", "runtime_version"]
    return csv_text(({**r, "metrics": json.dumps(r["metrics"]) if r["metrics"] else "",
                      "samples_ms": " ".join(f"{v:.4f}" for v in (r["runtime"]["samples_ms"] or [])),
                      "cpu": (r["fingerprint"] or {}).get("cpu"),
                      "runtime_version": (r["fingerprint"] or {}).get("runtime_version")} for r in rows), keys)


def list_submissions(p: Platform, slug: str, phase: str, u: User, limit: int = 500) -> list[SubmissionPublic]:
    """``u``'s submissions in a phase (an organiser: everyone's), newest first."""
    with p.db.read() as s:
        _c, ph, _cdef = get_phase(s, slug, phase)
        q = select(Submission).where(Submission.phase_id == ph.id)
        if not u.is_organiser:
            q = q.where(Submission.owner_key == owner_key(u))
        return [submission_public(s, sub, u) for sub in s.execute(q.order_by(Submission.id.desc()).limit(limit)).scalars()]


def read_submission(p: Platform, sub_id: int, u: User) -> SubmissionPublic:
    with p.db.read() as s:
        sub = visible_submission(s, sub_id, u)
        return with_waiting(p, s, sub, submission_public(s, sub, u))


def with_waiting(p: Platform, s: Session, sub: Submission, pub: SubmissionPublic) -> SubmissionPublic:
    """``pub`` with what its queued job waits for when no worker can take it
    (:func:`~maikit.server.services.workers.submission_waiting`)."""
    if sub.status in ACTIVE_STATUSES:
        limit = ChallengeDef.model_validate(sub.phase.challenge.definition).phase(sub.phase.slug).worker_wait_limit_s
        pub.waiting = submission_waiting(s, sub, limit, p.now(), p.settings.lease_s)
    return pub


def read_logs(p: Platform, sub_id: int, u: User) -> dict:
    """The log of every stage of a submission ``u`` may see (:func:`stage_logs`)."""
    with p.db.read() as s:
        return stage_logs(s, visible_submission(s, sub_id, u), u)


FILE_ROLES = ("runtime", "fidelity", "code")


def stored_file(p: Platform, sub_id: int, role: str) -> tuple[Path, str]:
    """A submitted file in the store (for organisers): ``runtime``, ``fidelity`` or ``code``
    (the bundle's code archive); its path and the name to download it as."""
    if role not in FILE_ROLES:
        raise NotFound(f"role must be one of {', '.join(FILE_ROLES)}")
    with p.db.read() as s:
        sub = s.get(Submission, sub_id)
        if sub is None:
            raise NotFound(f"no submission {sub_id}")
        sha = {"runtime": sub.runtime_sha256, "fidelity": sub.fidelity_sha256, "code": sub.code_sha256}[role]
        name = f"code-{sub_id}.{sub.code_format}" if role == "code" else f"{role}.tflite"
        # a rejected upload's code archive was not kept: its sha256 is recorded, its size is not
        if sha is None or (role == "code" and sub.code_size_bytes is None):
            raise NotFound(f"submission {sub_id} has no {role} file")
    path = p.store.path(sha)
    if not path.is_file():
        raise NotFound("file not stored")
    return path, name


def bundle_archive(p: Platform, sub_id: int) -> tuple[Path, str]:
    """A submission's whole bundle as one zip (for organisers): the model file(s), the code
    archive as sent, and the owner's factsheet for the phase (``factsheet.json``); (a temporary
    file the caller removes, its download name)."""
    import json
    import tempfile
    import zipfile

    with p.db.read() as s:
        sub = s.get(Submission, sub_id, options=[joinedload(Submission.phase)])
        if sub is None:
            raise NotFound(f"no submission {sub_id}")
        sheet = factsheets.row_of(s, sub.phase_id, sub.owner_key)
        parts = [("model.tflite", sub.runtime_sha256)]
        if sub.fidelity_sha256 and sub.fidelity_sha256 != sub.runtime_sha256:
            parts.append(("model_none.tflite", sub.fidelity_sha256))
        if sub.code_sha256 and sub.code_size_bytes is not None:
            parts.append((f"code.{sub.code_format or 'bin'}", sub.code_sha256))
        data = sheet.data if sheet is not None else None
        name = f"bundle-{sub.id}.zip"
    missing = [n for n, sha in parts if sha is None or not p.store.path(sha).is_file()]
    if missing:
        raise NotFound(f"submission {sub_id} has no stored {', '.join(missing)} (a file rejected at upload is not kept)")
    fd, tmp = tempfile.mkstemp(dir=p.store.root / "tmp", suffix=".zip")
    try:
        with open(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
            for member, sha in parts:
                zf.write(p.store.path(sha), member)
            if data is not None:
                zf.writestr("factsheet.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), name


def _locked(s: Session, sub: Submission) -> Submission:
    """``sub`` read again under its row lock (PostgreSQL; SQLite's writer holds the database):
    a change that decides from its status or its siblings sees every change committed before."""
    return lock_submission(s, sub.id)


def cancel(p: Platform, sub_id: int, u: User) -> SubmissionPublic:
    """An organiser cancels a submission in any status; its owner (or team) one that is queued
    or running (Conflict otherwise). A cancelled submission counts toward no limit: the quota
    is given back (:func:`~maikit.server.jobs.pipeline.cancel_submission`)."""
    with p.db.write() as s, s.begin():
        sub = _locked(s, visible_submission(s, sub_id, u))
        if not u.is_organiser and sub.status not in ACTIVE_STATUSES:
            raise Conflict(f"submission {sub_id} is {sub.status}; only a queued or running submission can be cancelled")
        if sub.status != CANCELLED:
            cancel_submission(s, sub, p.now(), CANCELLED_BY_ORGANISER if u.is_organiser else CANCELLED_BY_OWNER)
        s.flush()
        return submission_public(s, sub, u)


def rerun(p: Platform, sub_id: int, u: User, runtime_only: bool = False) -> SubmissionPublic:
    """Run the same files again as a new submission (``parent_id`` = this one; no quota);
    ``runtime_only``: re-measure the runtime only, keeping the fidelity result."""
    with p.db.write() as s, s.begin():
        sub = _locked(s, visible_submission(s, sub_id, u))
        refusal = rerun_refusal(sub, runtime_only)
        if refusal:
            raise Conflict(refusal)
        new = rerun_submission(s, sub, p.now(), p.settings.max_attempts, runtime_only)
        s.flush()
        s.refresh(new)
        return submission_public(s, new, u)


def select_refusal(sub: Submission, ranking: str, now: datetime) -> str | None:
    """Why this submission cannot be the one its owner's row shows, or None: the phase must
    rank by ``selected`` and be open, the submission neither failed, cancelled nor re-run."""
    phase = sub.phase
    if ranking != "selected":
        return (f"phase {phase.slug!r} ranks each participant's {ranking} submission; choosing one is for "
                f"phases ranked by `selected`")
    if now >= phase.end:
        return f"phase {phase.slug!r} closed at {phase.end.isoformat()}: the choice made by then stands"
    if sub.status in (FAILED, CANCELLED):
        return f"submission {sub.id} is {sub.status}; choose one that is finished or still running"
    if sub.superseded:
        return f"submission {sub.id} was re-run; choose its newest run"
    return None


def select_for_board(p: Platform, sub_id: int, u: User) -> SubmissionPublic:
    """Choose this submission for a phase ranked by ``selected`` (one per participant or team;
    Conflict: :func:`select_refusal`). The owner's submissions in the phase are locked first, so
    two choices made at once leave one selected."""
    with p.db.write() as s, s.begin():
        sub = visible_submission(s, sub_id, u)
        cdef = ChallengeDef.model_validate(sub.phase.challenge.definition)
        siblings = s.execute(select(Submission).where(Submission.phase_id == sub.phase_id,
                                                      Submission.owner_key == sub.owner_key)
                             .with_for_update().execution_options(populate_existing=True)).scalars().all()
        refusal = select_refusal(sub, cdef.phase(sub.phase.slug).ranking, p.now())
        if refusal:
            raise Conflict(refusal)
        for other in siblings:
            other.selected = other.id == sub.id
        s.flush()
        return submission_public(s, sub, u)


def export_phase(p: Platform, slug: str, phase: str) -> list[dict]:
    """Every submission of a phase, for organisers (:func:`export_rows`)."""
    with p.db.read() as s:
        return export_rows(s, get_phase(s, slug, phase)[1].id)


def owned(p: Platform, u: User, sub_ids: list[int]) -> set[int]:
    """Which of these submissions are ``u``'s (or their team's)."""
    if not sub_ids:
        return set()
    with p.db.read() as s:
        return set(s.scalars(select(Submission.id).where(Submission.id.in_(sub_ids), Submission.owner_key == owner_key(u))))


def wait_estimate_s(s: Session, position: int | None, now: datetime) -> float | None:
    """Rough wait before a queued job starts: jobs ahead (+1) times the mean time of the last
    finished jobs, shared among the workers heard from in the last two minutes."""
    if position is None:
        return None
    recent = s.execute(select(Job.started_at, Job.finished_at).where(Job.status == JOB_DONE, Job.started_at.is_not(None))
                       .order_by(Job.id.desc()).limit(20)).all()
    if not recent:
        return None
    mean = sum((b - a).total_seconds() for a, b in recent) / len(recent)
    workers = s.scalar(select(func.count()).select_from(Worker).where(Worker.last_seen >= now - timedelta(minutes=2))) or 1
    return (position + 1) * mean / workers


def own_rows(p: Platform, slug: str, phase: str, u: User, limit: int = 200) -> list[dict]:
    """``u``'s own submissions in a phase (not the organisers' view: their own only), newest
    first, each public view with its wait estimate, whether it is active and superseded, and
    whether its owner may cancel it or select it for the board now."""
    now = p.now()
    with p.db.read() as s:
        _c, ph, cdef = get_phase(s, slug, phase)
        ranking = cdef.phase(ph.slug).ranking
        subs = s.execute(select(Submission).where(Submission.phase_id == ph.id, Submission.owner_key == owner_key(u))
                         .order_by(Submission.id.desc()).limit(limit)).scalars().all()
        rows = []
        for sub in subs:
            pub = submission_public(s, sub, u)
            active = pub.status in ACTIVE_STATUSES
            rows.append(pub.model_dump() | {"wait_s": wait_estimate_s(s, pub.queue_position, now), "active": active,
                                            "superseded": sub.superseded, "can_cancel": active,
                                            "can_select": not sub.selected and select_refusal(sub, ranking, now) is None})
        return rows


@dataclass
class Detail:
    """A submission as its page shows it: the public view, the runtime result (empty while
    hidden), the stage logs, the wait estimate, and the raw row for the page's wording."""

    public: SubmissionPublic
    hidden: bool
    run: dict
    logs: dict
    wait_s: float | None
    challenge: ChallengePublic
    status: str
    stage: str | None
    reason: str | None
    fault: str | None
    limits: str = ""  # the phase's limits per stage, in words
    failed_stage: str | None = None  # preflight | fidelity | runtime, for a failed submission


def failed_stage(sub: Submission) -> str | None:
    """The stage a failed submission failed at (from its reason: ``preflight: ...``, ``fidelity: ...``)."""
    if sub.status != FAILED:
        return None
    head = (sub.reason or "").split(":", 1)[0]
    return head if head in ("preflight", "fidelity", "runtime") else sub.stage


def submission_detail(p: Platform, sub_id: int, u: User) -> Detail:
    with p.db.read() as s:
        sub = visible_submission(s, sub_id, u)
        pub = with_waiting(p, s, sub, submission_public(s, sub, u))
        hidden = pub.score is None and sub.score is not None
        jobs = {j.role: j for j in sub.jobs}
        run = (jobs["runtime"].result or {}) if "runtime" in jobs and not hidden else {}
        pdef = ChallengeDef.model_validate(sub.phase.challenge.definition).phase(sub.phase.slug)
        limits = (f"{pdef.execution_time_limit_s:g} s of wall clock and {pdef.memory_limit_mb} MB of memory for each "
                  f"of the fidelity and runtime stages")
        return Detail(pub, hidden, run, stage_logs(s, sub, u), wait_estimate_s(s, pub.queue_position, p.now()),
                      challenge_public(sub.phase.challenge, p.now()), sub.status, sub.stage, pub.reason, sub.fault,
                      limits, failed_stage(sub))


def organiser_rows(p: Platform, *, challenge: str = "", phase: str = "", status: str = "", user: str = "",
                   limit: int = 300) -> list[dict]:
    """Every submission (filtered by challenge, phase, status, user name), newest first, with
    what an organiser may do to each."""
    with p.db.read() as s:
        q = (select(Submission, Phase.slug, Challenge.slug, User.username)
             .join(Phase, Phase.id == Submission.phase_id).join(Challenge, Challenge.id == Phase.challenge_id)
             .join(User, User.id == Submission.user_id))
        if challenge:
            q = q.where(Challenge.slug == challenge)
        if phase:
            q = q.where(Phase.slug == phase)
        if status:
            q = q.where(Submission.status == status)
        if user:
            q = q.where(User.username == user)
        return [{"id": sub.id, "challenge": cslug, "phase": pslug, "user": uname, "status": sub.status,
                 "stage": sub.stage, "score": sub.score, "runtime_ms": sub.runtime_ms, "parent_id": sub.parent_id,
                 "superseded": sub.superseded, "created_at": sub.created_at, "reason": sub.reason,
                 "can_rerun": rerun_refusal(sub) is None, "can_remeasure": rerun_refusal(sub, True) is None,
                 "flagged": bool(sub.flags), "can_cancel": sub.status in ACTIVE_STATUSES,
                 "bundle": code_info(sub) is not None}
                for sub, pslug, cslug, uname in s.execute(q.order_by(Submission.id.desc()).limit(limit)).all()]
