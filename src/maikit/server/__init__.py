"""The challenge platform: a thin FastAPI server over the maikit library.

The server validates, stores, queues and ranks; every measurement is maikit code run by
workers (:mod:`maikit.worker`) that pull jobs over HTTP. Layout (one way: api -> jobs -> db):

- ``core/``: settings, clock, password and token hashing;
- ``challenge.py``: the challenge definition file (YAML) and its validation;
- ``db/``: SQLAlchemy models, the session factory, Alembic migrations;
- ``store.py``: submitted files in a content-addressed store (sha256);
- ``jobs/``: the queue (claim with leases, heartbeats, results, requeue) and the
  submission pipeline (preflight at upload, fidelity and runtime jobs, score);
- ``api/``: one router per entity, pydantic schemas, dependencies;
- ``app.py``: the FastAPI application; ``serve.py``: ``mai serve``.
"""
