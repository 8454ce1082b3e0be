"""The platform's domain services, one module per entity; they know nothing of HTTP.

Each takes the :class:`~maikit.server.state.Platform` (or a database session for the
building blocks), returns plain data or the public views, and refuses with
:mod:`maikit.server.errors`. The API routes and the web pages call them; so do ``mai serve``
and its demo. This package imports none of its modules, so each can be imported alone.
"""
