"""Request and response bodies (one family per entity)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


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
    username: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    password: str | None = None
    role: Literal["participant", "organiser"] = "participant"
    team: str | None = None


class UserPublic(BaseModel):
    id: int
    username: str
    role: str
    team: str | None = None


class UserCreated(UserPublic):
    token: str


class WorkerTokenCreate(BaseModel):
    device_tag: str = Field("*", description="the device tag this token may serve (* = any)")
    label: str = ""


class PhasePublic(BaseModel):
    slug: str
    title: str | None
    kind: str
    start: str
    end: str
    open: bool
    max_submissions_per_day: int | None
    max_submissions: int | None
    max_failed_per_day: int | None
    execution_time_limit_s: float
    visibility: str
    ranking: str
    published: bool


class ChallengePublic(BaseModel):
    slug: str
    title: str
    task: str
    description: str
    upload_cap_mb: float
    protocol: dict
    leaderboard: list[dict]
    phases: list[PhasePublic]


class SubmissionPublic(BaseModel):
    id: int
    challenge: str
    phase: str
    user: str
    status: str
    stage: str | None
    reason: str | None
    fault: str | None
    metrics: dict | None
    runtime_ms: float | None
    score: float | None
    size_bytes: int | None
    description: str | None = None
    sha256: str | None
    fidelity_sha256: str | None
    preflight: dict | None
    parent_id: int | None
    selected: bool
    counts_quota: bool
    created_at: str
    finished_at: str | None
    queue_position: int | None = None
    quota: dict | None = None
    # from a device worker (mai worker --backend): drift figures, per-op profile, op findings
    runtime_details: dict | None = None


class WorkerHealth(BaseModel):
    """A device health check's outcome: ``ok``, and the reason when it is not."""

    ok: bool
    reason: str | None = Field(None, max_length=2000)


class WorkerRegister(BaseModel):
    name: str = Field(max_length=100)
    roles: list[Literal["fidelity", "runtime", "noop"]] = ["fidelity", "runtime"]
    device_tag: str = "litert-cpu"
    fingerprint: dict = {}
    health: WorkerHealth | None = None  # the device's health check on start (None: no device to check)


class WorkerRegistered(BaseModel):
    worker_id: int
    device_tag: str
    roles: list[str]


class ClaimRequest(BaseModel):
    worker_id: int
    wait_s: float = Field(0.0, ge=0, le=60)


class Heartbeat(BaseModel):
    lease_expires_at: str
    cancel: bool


class JobResult(BaseModel):
    ok: bool
    result: dict[str, Any] | None = None
    reason: str | None = None
    fault: Literal["model", "infrastructure"] | None = None
