from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import func, select

from maikit import __version__
from maikit.server.api.deps import state
from maikit.server.api.schemas import Health
from maikit.server.db.models import JOB_LEASED, JOB_QUEUED, Job

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=Health)
def health(st=Depends(state)) -> Health:
    with st.db.read() as s:
        counts = dict(s.execute(select(Job.status, func.count()).where(Job.status.in_((JOB_QUEUED, JOB_LEASED)))
                                .group_by(Job.status)).all())
    return Health(status="ok", version=__version__, database=st.db.dialect,
                  queued_jobs=counts.get(JOB_QUEUED, 0), leased_jobs=counts.get(JOB_LEASED, 0))
