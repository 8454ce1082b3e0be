"""Factsheets: one per participant (or team) and phase, sent with a final-phase upload or
written on its own, editable until the phase ends; read by their owner (and team) and by
organisers, never by other participants.

Saving is race-free: the owner's row is locked first (:func:`~maikit.server.services.quota.lock_owner`,
as uploads do), so two team members saving at once update one row one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from maikit.errors import MaikitError
from maikit.server.db.models import Factsheet as FactsheetRow
from maikit.server.db.models import Phase, User
from maikit.server.errors import Invalid, PhaseClosed
from maikit.server.factsheet import Factsheet, factsheet_from, parse_factsheet
from maikit.server.services.lookup import get_phase
from maikit.server.services.quota import lock_owner, owner_key
from maikit.server.state import Platform


@dataclass
class FactsheetView:
    """A saved factsheet as its owner and the organisers see it."""

    challenge: str
    phase: str
    owner: str
    factsheet: dict | None  # None: none saved yet
    updated_at: str | None
    updated_by: str | None
    editable: bool  # until the phase ends
    closes_at: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def validated(obj: object, source: str = "factsheet") -> Factsheet:
    """A factsheet from fields already parsed (a page's form; Invalid naming the first bad field)."""
    try:
        return factsheet_from(obj, source)
    except MaikitError as e:
        raise Invalid(str(e)) from None


def from_file(raw: bytes, source: str = "factsheet") -> Factsheet:
    """A factsheet from a YAML or JSON file's (or request body's) bytes (Invalid naming the first
    bad field)."""
    try:
        return parse_factsheet(raw, source)
    except MaikitError as e:
        raise Invalid(str(e)) from None


def row_of(s: Session, phase_id: int, owner: str) -> FactsheetRow | None:
    return s.execute(select(FactsheetRow).where(FactsheetRow.phase_id == phase_id,
                                                FactsheetRow.owner_key == owner)).scalar_one_or_none()


def upsert(s: Session, phase_id: int, u: User, fs: Factsheet, now: datetime) -> FactsheetRow:
    """Save ``u``'s (or their team's) factsheet for a phase, in the caller's transaction."""
    lock_owner(s, u)
    owner = owner_key(u)
    row = row_of(s, phase_id, owner)
    data = fs.model_dump(mode="json")
    if row is None:
        row = FactsheetRow(phase_id=phase_id, owner_key=owner, user_id=u.id, data=data, created_at=now, updated_at=now)
        s.add(row)
    else:
        row.data, row.user_id, row.updated_at = data, u.id, now
    s.flush()
    return row


def _view(s: Session, slug: str, ph: Phase, owner: str, row: FactsheetRow | None, now: datetime) -> FactsheetView:
    who = s.get(User, row.user_id).username if row is not None else None
    return FactsheetView(slug, ph.slug, owner, row.data if row else None,
                         row.updated_at.isoformat() if row else None, who, now < ph.end, ph.end.isoformat())


def read_own(p: Platform, slug: str, phase: str, u: User) -> FactsheetView:
    """``u``'s (or their team's) factsheet for the phase (``factsheet`` None when none is saved)."""
    with p.db.read() as s:
        _c, ph, _cdef = get_phase(s, slug, phase)
        owner = owner_key(u)
        return _view(s, slug, ph, owner, row_of(s, ph.id, owner), p.now())


def save_own(p: Platform, slug: str, phase: str, u: User, fs: Factsheet) -> FactsheetView:
    """Save ``u``'s (or their team's) factsheet; PhaseClosed once the phase has ended."""
    now = p.now()
    with p.db.write() as s, s.begin():
        _c, ph, _cdef = get_phase(s, slug, phase)
        if now >= ph.end:
            raise PhaseClosed(f"phase {phase!r} of {slug!r} closed {ph.end.isoformat()}: its factsheets can no longer change")
        row = upsert(s, ph.id, u, fs, now)
        return _view(s, slug, ph, row.owner_key, row, now)


def phase_factsheets(p: Platform, slug: str, phase: str) -> list[dict]:
    """Every factsheet of a phase (organisers): owner, who saved it last and when, the fields."""
    with p.db.read() as s:
        _c, ph, _cdef = get_phase(s, slug, phase)
        rows = s.execute(select(FactsheetRow, User.username).join(User, User.id == FactsheetRow.user_id)
                         .where(FactsheetRow.phase_id == ph.id).order_by(FactsheetRow.id)).all()
        return [{"owner": r.owner_key, "updated_by": who, "updated_at": r.updated_at.isoformat(), "factsheet": r.data}
                for r, who in rows]
