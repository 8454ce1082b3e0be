"""Database tables (SQLAlchemy 2). Schema changes go through Alembic (``db/migrations``).

Times are stored as naive UTC and read back as aware UTC (:class:`UtcDateTime`), so SQLite
and PostgreSQL behave alike.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, TypeDecorator, true,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UtcDateTime(TypeDecorator):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    pass


# Submission statuses (participant-facing) and job statuses (queue-facing).
SUBMITTED, QUEUED, RUNNING, SCORING, FINISHED, FAILED, CANCELLED = (
    "Submitted", "Queued", "Running", "Scoring", "Finished", "Failed", "Cancelled")
ACTIVE_STATUSES = (SUBMITTED, QUEUED, RUNNING, SCORING)
DONE_STATUSES = (FINISHED, FAILED, CANCELLED)
# Why a submission failed: the model's fault (counts toward max_failed_per_day), the
# platform's (never counts), or an organiser's cancel (never counts).
FAULT_MODEL, FAULT_INFRA = "model", "infrastructure"

JOB_QUEUED, JOB_LEASED, JOB_DONE, JOB_FAILED, JOB_CANCELLED = "queued", "leased", "done", "failed", "cancelled"

# the largest id a row can have: the id columns are INTEGER (32 bits on PostgreSQL); the API
# refuses larger ones before any query (maikit.server.api.params.RowId)
MAX_ID = 2**31 - 1


def column_length(column) -> int:
    """A string column's length (``User.username`` -> 64): the limit the API states for it."""
    return column.property.columns[0].type.length


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    quota_lock: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="participant")  # participant | organiser
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), nullable=True)
    # bumped under lock by every upload: serialises one owner's quota checks on both engines
    quota_lock: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    team: Mapped[Team | None] = relationship()

    @property
    def is_organiser(self) -> bool:
        return self.role == "organiser"


class ApiToken(Base):
    """A user's API token or a worker token (scoped to a device tag; ``*`` = any)."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # user | worker
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    device_tag: Mapped[str | None] = mapped_column(String(64), nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    user: Mapped[User | None] = relationship()


class WebSession(Base):
    """A signed-in browser. The cookie carries a random token; only its sha256 is stored.
    Deleting the row ends the session (sign-out, password change, role change)."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class Challenge(Base):
    __tablename__ = "challenges"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(16))
    definition: Mapped[dict] = mapped_column(JSON)  # the validated ChallengeDef (data paths absolute)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    phases: Mapped[list["Phase"]] = relationship(back_populates="challenge", order_by="Phase.id")


class Phase(Base):
    __tablename__ = "phases"
    __table_args__ = (UniqueConstraint("challenge_id", "slug"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id"))
    slug: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    start: Mapped[datetime] = mapped_column(UtcDateTime)
    end: Mapped[datetime] = mapped_column(UtcDateTime)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    challenge: Mapped[Challenge] = relationship(back_populates="phases")


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        Index("ix_submissions_quota", "phase_id", "owner_key", "created_at"),
        Index("ix_submissions_board", "phase_id", "status", "owner_key", "score"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # who the quota and the leaderboard row belong to: "t<team id>" or "u<user id>"
    owner_key: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    fault: Mapped[str | None] = mapped_column(String(16), nullable=True)
    counts_quota: Mapped[bool] = mapped_column(Boolean, default=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"), nullable=True)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)  # re-run by an organiser
    selected: Mapped[bool] = mapped_column(Boolean, default=False)
    runtime_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    fidelity_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the final bundle's code archive (in the file store by its sha256; format as preflight found it)
    code_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    code_size_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    code_format: Mapped[str | None] = mapped_column(String(16), nullable=True)
    preflight: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    metrics: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    runtime_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    # the input shape the runtime was timed at (NHWC or NCHW, as the file takes it)
    runtime_shape: Mapped[list | None] = mapped_column(JSON, nullable=True)
    # the runtime's and the score's confidence intervals (maikit.scoring.intervals)
    runtime_interval: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    flags: Mapped[list | None] = mapped_column(JSON, nullable=True)  # why the result is flagged (empty: clean)
    # a re-run's first submission (its chain of parent_id); None: the submission is its own lineage
    lineage_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    phase: Mapped[Phase] = relationship()
    user: Mapped[User] = relationship()
    jobs: Mapped[list["Job"]] = relationship(back_populates="submission", order_by="Job.id")


class Job(Base):
    """One stage of a submission: queued -> leased (worker, expiry, attempt) -> done | failed."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "status", "role", "id"), Index("ix_jobs_lease", "status", "lease_expires_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    role: Mapped[str] = mapped_column(String(16))  # fidelity | runtime (or noop, for queue checks)
    device_tag: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=JOB_QUEUED)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), nullable=True)
    lease_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    submission: Mapped[Submission] = relationship(back_populates="jobs")


class Worker(Base):
    __tablename__ = "workers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"))
    device_tag: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list] = mapped_column(JSON)
    fingerprint: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    # the device's health check as the worker last reported it; an unhealthy worker is leased no job
    healthy: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    health_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    health_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Factsheet(Base):
    """A participant's (or team's) factsheet for a phase (:mod:`maikit.server.factsheet`):
    one per owner, editable until the phase ends."""

    __tablename__ = "factsheets"
    __table_args__ = (UniqueConstraint("phase_id", "owner_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id"))
    owner_key: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # who saved it last
    data: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class JobLog(Base):
    """Text a worker uploaded for one job attempt (appended in order)."""

    __tablename__ = "job_logs"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
