"""Challenges and phases: look up, create or update from a definition (its reference data
under the server's reference folder; a phase dropped from the file removed unless it has
submissions), check a definition without saving it, publish, re-run a phase, and their public
view (what anyone may read of them)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maikit.errors import MaikitError
from maikit.server.bundle import kit_file_problems
from maikit.server.challenge import ChallengeDef, absolute, data_problems, outside_root, parse_challenge, problems_of, read_yaml
from maikit.server.db.models import Challenge, Phase, Submission
from maikit.server.errors import Conflict, Invalid
from maikit.server.jobs.pipeline import rerun_phase as rerun_all
from maikit.server.services.kit import seal
from maikit.server.services.lookup import get_challenge, get_phase
from maikit.server.state import Platform


class PhasePublic(BaseModel):
    slug: str
    title: str | None
    kind: str
    start: str
    end: str
    open: bool
    state: str = "closed"  # in words: "open", "not open yet" (before its start) or "closed" (ended)
    max_submissions_per_day: int | None
    max_submissions: int | None
    max_failed_per_day: int | None
    execution_time_limit_s: float
    visibility: str
    ranking: str
    published: bool
    bundle: dict = {}  # what an upload must carry beside the model: code, factsheet (required|optional|none), code_cap_mb


class ChallengePublic(BaseModel):
    slug: str
    title: str
    task: str
    description: str
    upload_cap_mb: float
    protocol: dict
    leaderboard: list[dict]
    phases: list[PhasePublic]
    kit: bool = False  # a starting kit to download (signed in)

    def phase(self, slug: str) -> PhasePublic:
        return next(p for p in self.phases if p.slug == slug)


def phase_public(p: Phase, cdef: ChallengeDef, now) -> PhasePublic:
    d = cdef.phase(p.slug)
    return PhasePublic(slug=p.slug, title=d.title, kind=p.kind, start=p.start.isoformat(), end=p.end.isoformat(),
                       open=p.start <= now < p.end,
                       state="not open yet" if now < p.start else "open" if now < p.end else "closed",
                       max_submissions_per_day=d.max_submissions_per_day,
                       max_submissions=d.max_submissions, max_failed_per_day=d.max_failed_per_day,
                       execution_time_limit_s=d.execution_time_limit_s, visibility=d.visibility, ranking=d.ranking,
                       published=p.published, bundle=d.bundle.model_dump())


def challenge_public(c: Challenge, now) -> ChallengePublic:
    cdef = ChallengeDef.model_validate(c.definition)
    return ChallengePublic(slug=c.slug, title=c.title, task=c.task, description=cdef.description,
                           upload_cap_mb=cdef.upload_cap_mb, protocol=cdef.protocol.model_dump(),
                           leaderboard=[col.model_dump() for col in cdef.leaderboard],
                           kit=cdef.kit is not None and (bool(cdef.kit.files) or cdef.kit.guideline),
                           phases=[phase_public(p, cdef, now) for p in c.phases])


def list_challenges(p: Platform) -> list[ChallengePublic]:
    with p.db.read() as s:
        return [challenge_public(c, p.now()) for c in s.execute(select(Challenge).order_by(Challenge.id)).scalars()]


def read_challenge(p: Platform, slug: str) -> ChallengePublic:
    with p.db.read() as s:
        return challenge_public(get_challenge(s, slug), p.now())


def definition(p: Platform, slug: str, phase: str) -> ChallengeDef:
    """The definition of the challenge that has this phase (NotFound for an unknown phase)."""
    with p.db.read() as s:
        return get_phase(s, slug, phase)[2]


def _load(raw: bytes, yaml: bool) -> object:
    try:
        return read_yaml(raw) if yaml else json.loads(raw)
    except MaikitError as e:
        raise Invalid(f"not a readable definition ({e.reason})")
    except ValueError as e:
        raise Invalid(f"not a readable definition ({str(e).splitlines()[0] if str(e) else type(e).__name__})")


def read_definition(raw: bytes, *, yaml: bool) -> ChallengeDef:
    """A challenge definition sent as JSON (or YAML), validated (Invalid: the first bad field)."""
    obj = _load(raw, yaml)
    try:
        return parse_challenge(obj, "challenge")
    except MaikitError as e:
        raise Invalid(str(e))


def placed(p: Platform, cdef: ChallengeDef) -> tuple[ChallengeDef, list[str]]:
    """The definition with its data paths and its kit folder under the reference folder (a
    relative one taken under it), and a line for each path that lies outside it
    (docs/challenge-yaml.md#data)."""
    root = p.settings.reference_dir
    cdef = cdef.model_copy(deep=True)
    problems = []
    paths = [(f"data.{kind}", cdef.data, kind) for kind in ("validation", "test")]
    if cdef.kit is not None:  # the starting kit is served to participants: under the same folder
        paths.append(("kit.folder", cdef.kit, "folder"))
    for field, holder, attr in paths:
        path = getattr(holder, attr)
        if not path:
            continue
        if ".." not in Path(path).parts:
            path = absolute(path, root)
        if outside_root(path, root):
            problems.append(f"{field}: {getattr(holder, attr)} is outside the server's reference data folder "
                            f"{root} (the MAI_SERVER_REFERENCE_ROOT setting)")
        setattr(holder, attr, path)
    return cdef, problems


def change_refusal(s: Session, cdef: ChallengeDef) -> str | None:
    """Why this definition cannot replace the stored one, or None: the task changed, or a
    phase left out of it has submissions (one without is removed)."""
    c = s.execute(select(Challenge).where(Challenge.slug == cdef.slug)).scalar_one_or_none()
    if c is None:
        return None
    if c.task != cdef.task:
        return f"challenge {cdef.slug!r} is for task {c.task!r}; its task cannot change"
    kept = {pd.slug for pd in cdef.phases}
    for ph in c.phases:
        if ph.slug in kept:
            continue
        # locked first: an upload holds a key-share lock on its phase until it commits, so the
        # count includes it, and an upload that comes later finds the phase gone
        s.execute(select(Phase.id).where(Phase.id == ph.id).with_for_update())
        n = s.scalar(select(func.count()).select_from(Submission).where(Submission.phase_id == ph.id))
        if n:
            return (f"phases: phase {ph.slug!r} is not in the definition but has {n} submission{'s' if n != 1 else ''}; "
                    f"a phase with submissions cannot be removed (keep it; its dates can close it)")
    return None


def upsert_challenge(s: Session, cdef: ChallengeDef, now) -> Challenge:
    """Create the challenge, or update its definition and phases; a phase the definition no
    longer names is removed when it has no submissions (Conflict otherwise: :func:`change_refusal`)."""
    refusal = change_refusal(s, cdef)
    if refusal:
        raise Conflict(refusal)
    c = s.execute(select(Challenge).where(Challenge.slug == cdef.slug)).scalar_one_or_none()
    definition = json.loads(cdef.model_dump_json())
    if c is None:
        c = Challenge(slug=cdef.slug, title=cdef.title, task=cdef.task, definition=definition, created_at=now)
        s.add(c)
        s.flush()
    else:
        c.title, c.definition = cdef.title, definition
    existing = {p.slug: p for p in c.phases}
    for slug, p in existing.items():
        if slug not in {pd.slug for pd in cdef.phases}:
            s.delete(p)
    for pd in cdef.phases:
        p = existing.get(pd.slug)
        if p is None:
            s.add(Phase(challenge_id=c.id, slug=pd.slug, kind=pd.kind, start=pd.start, end=pd.end, published=False))
        else:
            p.kind, p.start, p.end = pd.kind, pd.start, pd.end
    s.flush()
    s.expire(c, ["phases"])
    s.refresh(c)
    return c


def save_challenge(p: Platform, cdef: ChallengeDef) -> ChallengePublic:
    """Create or update a challenge (Invalid: reference data or the starting kit outside the
    reference folder); the kit's files are checked and their sizes and sha256 recorded first
    (:func:`maikit.server.services.kit.seal`)."""
    cdef, outside = placed(p, cdef)
    if outside:
        raise Invalid(outside[0])
    seal(cdef)
    with p.db.write() as s, s.begin():
        return challenge_public(upsert_challenge(s, cdef, p.now()), p.now())


def check_definition(p: Platform, raw: bytes, *, yaml: bool) -> dict:
    """What saving this definition would refuse (``problems``: every bad field, reference data
    outside the reference folder or missing on this server, a change the stored challenge
    forbids) and what would not work yet (``warnings``: a device tag no registered worker
    serves); nothing is saved."""
    from maikit.server.services.workers import tags_without_worker

    obj = _load(raw, yaml)
    problems = problems_of(obj)
    if problems:
        return {"ok": False, "problems": problems, "warnings": []}
    cdef, problems = placed(p, parse_challenge(obj))
    inside = cdef.model_copy(deep=True)
    for kind in ("validation", "test"):  # the data of paths inside the folder, on this server
        path = getattr(inside.data, kind)
        if path and outside_root(path, p.settings.reference_dir):
            setattr(inside.data, kind, None)
    problems += data_problems(inside)
    if cdef.kit is not None and not outside_root(cdef.kit.folder, p.settings.reference_dir):
        problems += kit_file_problems(cdef.kit, [cdef.data.validation, cdef.data.test])
    with p.db.read() as s:
        refusal = change_refusal(s, cdef)
    if refusal:
        problems.append(refusal)
    warnings = [f"protocol.device: no registered worker serves device {tag!r}: runtime jobs wait until one "
                f"connects (mai worker --device {tag})" for tag in tags_without_worker(p, [cdef.protocol.device])]
    return {"ok": not problems, "problems": problems, "warnings": warnings}


def publish_phase(p: Platform, slug: str, phase: str) -> PhasePublic:
    """Make a phase's results visible (test phases are hidden until then)."""
    with p.db.write() as s, s.begin():
        _c, ph, cdef = get_phase(s, slug, phase)
        ph.published = True
        return phase_public(ph, cdef, p.now())


def rerun_phase(p: Platform, slug: str, phase: str, runtime_only: bool = False, flagged_only: bool = False) -> list[int]:
    """Re-run the newest submission of every lineage in the phase (``flagged_only``: those whose
    result is flagged; ``runtime_only``: re-measure the runtime, keeping the fidelity result);
    the new submissions' ids."""
    with p.db.write() as s, s.begin():
        return rerun_all(s, get_phase(s, slug, phase)[1], p.now(), p.settings.max_attempts, runtime_only, flagged_only)
