"""The challenge platform: a thin FastAPI server over the maikit library.

The server validates, stores, queues and ranks; every measurement is maikit code run by
workers (:mod:`maikit.worker`) that pull jobs over HTTP. Layers point one way (adapters ->
services -> jobs, db, core), checked by ``tests/server/test_layers.py``:

- ``api/`` and ``web/``: the adapters. ``api/routes/<entity>.py`` one router per entity,
  ``api/schemas.py`` the request and response bodies, ``api/deps.py`` who is calling,
  ``api/errors.py`` the one table from the refusals below to HTTP statuses; ``web/`` the
  pages (templates, static files, the session cookie). Both parse the request, check who
  asks, call a service and turn its answer into JSON or a page; neither holds a rule.
- ``app.py``: the FastAPI application (routers, pages, the error handler, the lease reaper);
  ``serve.py``: ``mai serve`` (uvicorn and in-process workers); ``demo.py``: ``--demo``.
- ``services/``: the domain, one module per entity, knowing nothing of HTTP:
  ``challenges`` (definitions, phases, publish, public views), ``users`` (accounts, tokens,
  who may do what), ``submissions`` (upload with preflight and quota, visibility, cancel,
  re-run, select, logs, export), ``workers`` and ``jobs`` (registration, health, claims,
  leases, results), ``leaderboards`` (ranked rows and the one board cache), ``quota``,
  ``lookup`` (a challenge or phase by slug).
- ``errors.py``: the refusals services raise (NotFound, Forbidden, Conflict, Invalid,
  TooLarge, QuotaExceeded, Unavailable...), each with a one-line reason.
- ``state.py``: :class:`~maikit.server.state.Platform`, what every service call needs
  (settings, database, file store, clock, preflight slots, the board cache).
- ``jobs/``: the queue (claim with leases, heartbeats, results, requeue) and the submission
  pipeline (jobs at upload, results, the score, cancel, re-run).
- ``db/``: SQLAlchemy models, the session factory, Alembic migrations; ``store.py``:
  submitted files by sha256; ``challenge.py``: the challenge definition file (YAML) and its
  validation; ``core/``: settings, clock, password and token hashing.

The library never imports the server; the CLI (``mai serve``, ``mai server``, ``mai
challenge``) imports it inside its commands only.
"""
