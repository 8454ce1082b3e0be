"""Path parameters shared by the API and the pages: a row id the database can hold.

An id past the id columns' type (INTEGER: 32 bits on PostgreSQL) names no row; it is
refused as the request's validation error (422 naming the parameter and the bound) before any
query, instead of the driver's overflow (a 500)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from maikit.server.db.models import MAX_ID

RowId = Annotated[int, Path(le=MAX_ID, description=f"a row id (at most {MAX_ID})")]
