"""Request and response bodies (one family per entity).

The public views that the services build, and the pages show too, are defined with the rule
that fills them (``ChallengePublic``, ``PhasePublic``: :mod:`~maikit.server.services.challenges`;
``SubmissionPublic``, results hidden until published: :mod:`~maikit.server.services.submissions`)
and named here with the rest of the API's bodies.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from maikit.server.db.models import MAX_ID, ApiToken, Team, User, Worker, column_length
from maikit.server.services.challenges import ChallengePublic, PhasePublic
from maikit.server.services.submissions import SubmissionPublic

__all__ = ["ChallengePublic", "ClaimRequest", "Health", "Heartbeat", "JobResult", "PhasePublic", "RoleChange", "SubmissionPublic",
           "TokenPublic", "TokenRequest", "UserCreate", "UserCreated", "UserPublic", "WorkerHealth", "WorkerRegister",
           "WorkerRegistered", "WorkerTokenCreate"]


class Health(BaseModel):
    status: str
    version: str
    database: str
    queued_jobs: int
    leased_jobs: int


class TokenRequest(BaseModel):
    username: str
    password: str


class TokenPublic(BaseModel):
    token: str = Field(description="shown once; only its hash is stored")


class UserCreate(BaseModel):
    username: str = Field(pattern=rf"^[A-Za-z0-9_.-]{{1,{column_length(User.username)}}}$")
    password: str | None = Field(None, max_length=1000)
    role: Literal["participant", "organiser"] = "participant"
    team: str | None = Field(None, max_length=column_length(Team.name))


class RoleChange(BaseModel):
    role: Literal["participant", "organiser"]


class UserPublic(BaseModel):
    id: int
    username: str
    role: str
    team: str | None = None


class UserCreated(UserPublic):
    token: str


class WorkerTokenCreate(BaseModel):
    device_tag: str = Field("*", max_length=column_length(ApiToken.device_tag),
                            description="the device tag this token may serve (* = any)")
    label: str = Field("", max_length=column_length(ApiToken.label))


class WorkerHealth(BaseModel):
    """A device health check's outcome: ``ok``, and the reason when it is not."""

    ok: bool
    reason: str | None = Field(None, max_length=2000)


class WorkerRegister(BaseModel):
    name: str = Field(max_length=column_length(Worker.name))
    roles: list[Literal["fidelity", "runtime", "noop"]] = ["fidelity", "runtime"]
    device_tag: str = Field("litert-cpu", max_length=column_length(Worker.device_tag))
    fingerprint: dict = {}
    health: WorkerHealth | None = None  # the device's health check on start (None: no device to check)


class WorkerRegistered(BaseModel):
    worker_id: int
    device_tag: str
    roles: list[str]


class ClaimRequest(BaseModel):
    worker_id: int = Field(le=MAX_ID)
    wait_s: float = Field(0.0, ge=0, le=60)


class Heartbeat(BaseModel):
    lease_expires_at: str
    cancel: bool


class JobResult(BaseModel):
    ok: bool
    result: Any = None  # an object of the measured values: checked by the service, which names what is missing
    reason: str | None = None
    fault: Literal["model", "infrastructure"] | None = None
