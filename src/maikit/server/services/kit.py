"""The starting kit: what a challenge hands its signed-in participants (training data,
validation inputs without targets, a starter script, the generated optimisation guideline),
each with its size and sha256.

Hidden reference data is unreachable by construction: a download is looked up by the name
the definition declares (a client's string is only a key, never a path), served only from
the declared kit folder after symbolic links are resolved, and never from inside either
reference split (``data.validation``, ``data.test``); the definition is refused when the kit
folder overlaps them (:func:`maikit.server.bundle.kit_problems`). Sizes and sha256 are taken
when the challenge is saved (:func:`seal`); a file changed since is refused until an
organiser saves the challenge again.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select

from maikit.server.bundle import GUIDELINE_NAME, KitFile, kit_problems, resolve_kit_file
from maikit.server.challenge import ChallengeDef
from maikit.server.db.models import JOB_DONE, Job, Submission
from maikit.server.errors import Conflict, Invalid, NotFound
from maikit.server.services.leaderboards import board_refusal
from maikit.server.services.lookup import get_challenge, no_phase
from maikit.server.state import Platform

PROFILES_READ = 300  # newest runtime results read for the guideline's measured section


@dataclass
class KitEntry:
    name: str  # what the download is addressed by
    title: str
    kind: str
    size_bytes: int
    sha256: str
    phases: list[str] | None  # None: every phase
    generated: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def _hash(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def resolve(cdef: ChallengeDef, kf: KitFile) -> Path:
    """The real path of a kit file (:func:`maikit.server.bundle.resolve_kit_file`; ValueError
    with the reason when it is not one to serve)."""
    return resolve_kit_file(cdef.kit.folder, kf.path, [cdef.data.validation, cdef.data.test])


def seal(cdef: ChallengeDef) -> ChallengeDef:
    """Check every kit file and record its size and sha256 (a sha256 the definition gives must
    match); Invalid naming the file otherwise. Run when a challenge is saved."""
    if cdef.kit is None:
        return cdef
    splits = [str(Path(d).resolve()) for d in (cdef.data.validation, cdef.data.test) if d]
    overlap = kit_problems(cdef.kit.model_copy(update={"folder": str(Path(cdef.kit.folder).resolve())}),
                           [p.slug for p in cdef.phases], splits)
    if overlap:  # checked again where the paths are the server's, links resolved
        raise Invalid(overlap[0])
    for i, kf in enumerate(cdef.kit.files):
        try:
            path = resolve(cdef, kf)
        except ValueError as e:
            raise Invalid(f"kit.files[{i}]: {e}") from None
        sha, size = _hash(path)
        if kf.sha256 is not None and kf.sha256 != sha:
            raise Invalid(f"kit.files[{i}]: {kf.path!r} has sha256 {sha}, not the {kf.sha256} the definition gives")
        kf.sha256, kf.size_bytes = sha, size
    return cdef


def _phase_ok(kf: KitFile, phase: str | None) -> bool:
    return phase is None or kf.phases is None or phase in kf.phases


def guideline_text(p: Platform, slug: str) -> str:
    """The optimisation guideline for the challenge's target (:mod:`maikit.export.guideline`),
    with the per-op profiles measured on its device by the runtime jobs of its phases whose
    results are public (a hidden phase's count once it is published)."""
    from maikit.export.guideline import optimisation_guideline
    from maikit.tasks import get_task

    with p.db.read() as s:
        c = get_challenge(s, slug)
        cdef = ChallengeDef.model_validate(c.definition)
        # only phases whose results anyone may see: nothing measured in a hidden phase leaks through it
        public = [ph.id for ph in c.phases if board_refusal(ph, cdef, None) is None]
        rows = s.execute(select(Submission.owner_key, Job.result).join(Job, Job.submission_id == Submission.id)
                         .where(Submission.phase_id.in_(public), Job.role == "runtime", Job.status == JOB_DONE,
                                Job.device_tag == cdef.protocol.device)
                         .order_by(Job.id.desc()).limit(PROFILES_READ)).all() if public else []
    profiles = [(owner, (result or {}).get("op_profile")) for owner, result in rows if (result or {}).get("op_profile")]
    spec = get_task(cdef.task)
    return optimisation_guideline(cdef.protocol.target, challenge=cdef.title, task_title=spec.title,
                                  protocol=cdef.protocol.model_dump(), input_shape=spec.latency_input_shape,
                                  profiles=profiles)


def _definition(p: Platform, slug: str) -> ChallengeDef:
    with p.db.read() as s:
        return ChallengeDef.model_validate(get_challenge(s, slug).definition)


def listing(p: Platform, slug: str, phase: str | None = None) -> list[KitEntry]:
    """The kit's downloads (for ``phase`` only when given), the guideline last."""
    cdef = _definition(p, slug)
    if phase is not None and phase not in {ph.slug for ph in cdef.phases}:
        raise no_phase(slug, phase, [ph.slug for ph in cdef.phases])
    if cdef.kit is None:
        return []
    out = [KitEntry(kf.path, kf.title or kf.path, kf.kind, kf.size_bytes or 0, kf.sha256 or "", kf.phases)
           for kf in cdef.kit.files if _phase_ok(kf, phase)]
    if cdef.kit.guideline:
        text = guideline_text(p, slug).encode()
        out.append(KitEntry(GUIDELINE_NAME.format(target=cdef.protocol.target),
                            f"Model optimisation guideline ({cdef.protocol.target})", "guideline", len(text),
                            hashlib.sha256(text).hexdigest(), None, True))
    return out


def kit_download(p: Platform, slug: str, name: str) -> tuple[Path | bytes, KitEntry]:
    """A download by its declared name: the file's path, or the generated guideline's bytes.
    NotFound for a name the kit does not declare; Conflict for a file changed since saved."""
    cdef = _definition(p, slug)
    if cdef.kit is None:
        raise NotFound(f"challenge {slug!r} has no starting kit")
    if cdef.kit.guideline and name == GUIDELINE_NAME.format(target=cdef.protocol.target):
        text = guideline_text(p, slug).encode()
        return text, KitEntry(name, "Model optimisation guideline", "guideline", len(text),
                              hashlib.sha256(text).hexdigest(), None, True)
    kf = next((f for f in cdef.kit.files if f.path == name), None)
    if kf is None:
        raise NotFound(f"no file {name!r} in the starting kit of {slug!r}")
    try:
        path = resolve(cdef, kf)
    except ValueError as e:
        raise Conflict(f"{e}; an organiser must fix the kit and save the challenge again") from None
    if path.stat().st_size != kf.size_bytes:
        raise Conflict(f"kit file {name!r} changed since the challenge was saved; an organiser must save it again")
    return path, KitEntry(kf.path, kf.title or kf.path, kf.kind, kf.size_bytes or 0, kf.sha256 or "", kf.phases)
