from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request

from maikit.server.api.deps import Caller, caller

router = APIRouter(prefix="/api", tags=["leaderboards"])


@router.get("/challenges/{slug}/phases/{phase}/leaderboard",
            responses={200: {"content": {"application/json": {}, "text/csv": {}}},
                       304: {"description": "unchanged since the ETag sent in If-None-Match"}})
async def leaderboard(slug: str, phase: str, request: Request, format: str = "json", c: Caller = Depends(caller)):
    """Ranked rows in the challenge's columns (JSON, or CSV with ``format=csv``), with an ETag
    (``If-None-Match`` gets 304 while the board is unchanged).

    ``private`` boards are for organisers; ``hidden-until-published`` ones until published.
    Served from memory for up to the ``leaderboard_fresh_s`` setting (1 s) after a database
    read confirmed it, so a submission finished through another server process on the same
    database appears within that time; through this one, at once."""
    board = await request.app.state.platform.boards.get(slug, phase)
    refusal = board.refusal_for(c.user)
    if refusal:
        raise HTTPException(403, refusal)
    return board.response(format, request.headers.get("if-none-match"))
