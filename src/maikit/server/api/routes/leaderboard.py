from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import PlainTextResponse

from maikit.server.api.deps import Caller, caller, state
from maikit.server.api.routes.challenges import get_phase
from maikit.server.leaderboard import columns, leaderboard_rows, to_csv

router = APIRouter(prefix="/api", tags=["leaderboards"])


@router.get("/challenges/{slug}/phases/{phase}/leaderboard")
def leaderboard(slug: str, phase: str, format: str = "json", c: Caller = Depends(caller), st=Depends(state)):
    """Ranked rows in the challenge's columns (JSON, or CSV with ``format=csv``).

    ``private`` boards are for organisers; ``hidden-until-published`` ones until published."""
    with st.db.read() as s:
        ch, p, cdef = get_phase(s, slug, phase)
        vis = cdef.phase(p.slug).visibility
        if not c.is_organiser and (vis == "private" or (vis == "hidden-until-published" and not p.published)):
            raise HTTPException(403, f"the leaderboard of {slug}/{phase} is not public"
                                + (" until an organiser publishes it" if vis != "private" else ""))
        rows = leaderboard_rows(s, p, cdef)
    cols = columns(cdef)
    if format == "csv":
        return PlainTextResponse(to_csv(rows, cols), media_type="text/csv")
    return {"challenge": slug, "phase": phase, "task": cdef.task, "ranking": cdef.phase(p.slug).ranking,
            "columns": cols, "rows": rows}
