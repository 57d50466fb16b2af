"""The database a bench runs against: ``DATABASE_URL`` (an admin URL) or an embedded PostgreSQL of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from infra.pg import EmbeddedPostgres


@contextlib.asynccontextmanager
async def admin_url(workdir: Path) -> AsyncIterator[str]:
    """Yield ``DATABASE_URL``, or the admin URL of an embedded PostgreSQL under ``workdir/pg``, stopped on exit."""
    external = os.environ.get("DATABASE_URL", "")
    if external:
        yield external
        return
    server = await asyncio.to_thread(EmbeddedPostgres(workdir / "pg").start)
    try:
        yield server.admin_url
    finally:
        with contextlib.suppress(Exception):
            server.stop()
