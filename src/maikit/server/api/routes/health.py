from __future__ import annotations

from fastapi import APIRouter, Depends

from maikit import __version__
from maikit.server.api.deps import state
from maikit.server.api.schemas import Health
from maikit.server.services.jobs import queue_counts

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=Health)
def health(st=Depends(state)) -> Health:
    queued, leased = queue_counts(st)
    return Health(status="ok", version=__version__, database=st.db.dialect, queued_jobs=queued, leased_jobs=leased)
