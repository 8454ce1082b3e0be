"""Server settings: one pydantic-settings object, from arguments or ``MAI_SERVER_*`` variables."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAI_SERVER_")

    data_dir: Path = Path("mai-server")
    db_url: str | None = None  # default: sqlite:///DATA_DIR/platform.db
    # the folder every challenge's reference data (``data:``) must lie under; a relative path
    # sent to the API is taken under it (docs/challenge-yaml.md#data); default: DATA_DIR
    reference_root: Path | None = None
    lease_s: float = 30.0  # a job's lease; heartbeats extend it
    # a new lease runs this long (at most lease_s) until the worker's first heartbeat, which a
    # worker sends as soon as it has the job: a claim answered to a worker that is gone frees
    # its job this soon, not a whole lease later
    first_heartbeat_s: float = 10.0
    max_attempts: int = 3  # leases a job may lose before it fails as an infrastructure failure
    claim_wait_s: float = 20.0  # longest long-poll of a claim
    reap_every_s: float = 2.0  # how often expired leases are requeued
    # how often submissions whose status contradicts their jobs are repaired (finished, failed
    # or requeued, with a log line each: services.jobs.repair_once); also once at start
    repair_every_s: float = 30.0
    # a preflight child's wall-clock and CPU limit: parsing and checking a file the size of the
    # upload cap takes well under a second (docs/security.md); past it, the upload fails with
    # "timeout" and its slot is free again
    preflight_timeout_s: float = 20.0
    preflight_memory_mb: int = 4096
    # preflight children run at this lower CPU priority (os.nice), so reads go first while
    # uploads arrive, and at most this many at once (default: as many as the machine has cores;
    # on 2 cores under load 2 gave ~1.5x the throughput and ~35% faster uploads than 1 at about
    # the same leaderboard p99, 3 a worse p99: benchmarks/RESULTS.md, challenge platform)
    preflight_nice: int = 10
    preflight_concurrency: int | None = None
    # preflight children forked from one process that imported the runtime once (~0.06 s per
    # upload instead of ~0.45 s of interpreter start-up: maikit.worker.zygote); off: each
    # preflight is a fresh interpreter
    preflight_zygote: bool = True
    default_upload_cap_mb: float = 50.0
    # uploads in progress (the body arriving, then the preflight) at once per account and per
    # client address (default: one fewer than the preflight slots, at least 1, so that one
    # address never holds every slot); more wait their turn in line, up to ``upload_waiting``
    # per account or address; past that, 429 with Retry-After (docs/security.md)
    uploads_per_account: int = 1
    uploads_per_address: int | None = None
    upload_waiting: int = 32
    # an upload whose body stops arriving for this long is cut (400) and gives its place back
    upload_idle_s: float = 60.0
    # request body limits in kB (1000 bytes) per kind of route; an upload's limit is its
    # phase's (the challenge's upload cap per model file, the code archive's and factsheet's
    # caps); past a limit, 413 at once (docs/security.md)
    body_kb: int = 64  # every route not named below (JSON requests, the pages' forms)
    signin_body_kb: int = 16  # sign-in, sign-up, password change
    job_log_kb: int = 1000  # a worker's log text, per post
    # a worker's result: every run's wall and CPU time (a fast model timed for seconds: ~10^5
    # runs, ~2 MB a list), the per-op profile; read only once the lease is found current
    job_result_kb: int = 64000
    challenge_file_kb: int = 1000  # a challenge definition (create, check)
    # ``mai serve``'s in-process workers measure runtime jobs as ``mai worker --backend
    # litert-cpu`` does: the drift reference timed before and after each job against a baseline
    # calibrated on this machine at the first start (DATA_DIR/devices/litert-cpu.json), the
    # job repeated on drift or noise. Off: as a worker without a backend (maikit.eval in the
    # worker sandbox, measured once).
    drift_control: bool = True
    drift_reference: str = "isp/smallnet"  # a shipped reference model, or a .tflite file
    drift_calibration_runs: int = 3
    # the API answers a leaderboard from memory for this long after a database read confirmed
    # it; a change made through another server process on the same database shows within it
    # (changes made through this process show at once); 0: every request re-reads
    leaderboard_fresh_s: float = 1.0
    # addresses of reverse proxies whose X-Forwarded-Proto and X-Forwarded-For are believed
    # (comma-separated IPs or networks, "*" for any; empty: none, the peer is the client):
    # the client's address for the per-address limits, https for the session cookie's Secure
    trusted_proxies: str = ""
    # a web session (the browser's sign-in) ends this long after it began, or at sign-out,
    # or when the user's password or role changes
    session_max_age_s: float = 14 * 24 * 3600.0
    # sign-in and sign-up (docs/security.md): attempts per account name in a sliding window
    # (a successful sign-in clears the name's count), attempts per client address of any
    # name; past either, 429 with Retry-After. Counted in this process's memory.
    signin_account_attempts: int = 10
    signin_account_window_s: float = 300.0
    signin_address_attempts: int = 30
    signin_address_window_s: float = 60.0

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(Path(self.data_dir) / 'platform.db').resolve()}"

    @property
    def reference_dir(self) -> Path:
        return Path(self.reference_root if self.reference_root is not None else self.data_dir).absolute()

    @property
    def files_dir(self) -> Path:
        return Path(self.data_dir) / "files"
