"""Leaderboards: the ranked rows of a phase (JSON or CSV) from the board cache, with ETags."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from maikit.server.api.deps import caller, state
from maikit.server.services.users import Caller

router = APIRouter(prefix="/api", tags=["leaderboards"])


def etag_matches(if_none_match: str, etag: str) -> bool:
    """``If-None-Match`` by the weak comparison (RFC 9110, 13.1.2): ``*``, or any listed tag
    equal to ``etag`` once a ``W/`` prefix is set aside."""
    want = etag.removeprefix("W/")
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == want:
            return True
    return False


@router.get("/challenges/{slug}/phases/{phase}/leaderboard",
            responses={200: {"content": {"application/json": {}, "text/csv": {}}},
                       304: {"description": "unchanged since the ETag sent in If-None-Match"}})
async def leaderboard(slug: str, phase: str, request: Request, format: str = "json", c: Caller = Depends(caller),
                      st=Depends(state)):
    """Ranked rows in the challenge's columns (JSON, or CSV with ``format=csv``), with an ETag
    (``If-None-Match`` gets 304 while the board is unchanged).

    ``private`` boards are for organisers; ``hidden-until-published`` ones until published.
    Served from memory for up to the ``leaderboard_fresh_s`` setting (1 s) after a database
    read confirmed it, so a submission finished through another server process on the same
    database appears within that time; through this one, at once."""
    board = await st.boards.visible(slug, phase, c.user)
    body, etag, media = board.body(format)
    headers = {"ETag": etag, "Cache-Control": "no-cache" if board.refusal is None else "private, no-cache"}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media, headers=headers)
