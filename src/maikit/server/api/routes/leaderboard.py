from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import PlainTextResponse

from maikit.server.api.deps import Caller, caller, state
from maikit.server.api.routes.challenges import get_phase
from maikit.server.leaderboard import board_refusal, columns, leaderboard_rows, to_csv

router = APIRouter(prefix="/api", tags=["leaderboards"])


@router.get("/challenges/{slug}/phases/{phase}/leaderboard")
def leaderboard(slug: str, phase: str, format: str = "json", c: Caller = Depends(caller), st=Depends(state)):
    """Ranked rows in the challenge's columns (JSON, or CSV with ``format=csv``).

    ``private`` boards are for organisers; ``hidden-until-published`` ones until published."""
    with st.db.read() as s:
        ch, p, cdef = get_phase(s, slug, phase)
        refusal = board_refusal(p, cdef, c.user)
        if refusal:
            raise HTTPException(403, refusal)
        rows = leaderboard_rows(s, p, cdef)
    cols = columns(cdef)
    if format == "csv":
        return PlainTextResponse(to_csv(rows, cols), media_type="text/csv")
    return {"challenge": slug, "phase": phase, "task": cdef.task, "ranking": cdef.phase(p.slug).ranking,
            "columns": cols, "rows": rows}
