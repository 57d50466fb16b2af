"""The hub's own connection pool for ingest transactions (app role, RLS as everywhere, no pre-ping).

At 500 batches/s the application pool's pre-ping (one extra round trip at every checkout) was a tenth
of the hub's CPU time (``bench/ingest.py --py-spy``). The ingest path does not need it: a connection
that died under a batch fails that batch's transaction, SQLAlchemy discards the connection, the hub
closes the agent's socket with 1011 and the agent resends after reconnecting (nothing acked, nothing
lost; ``tests/sync/test_faults.py`` restarts PostgreSQL under load).

Each transaction is scoped to the agent's principal by the same statement as every session's
(``tenants.rls.scope_connection``: RLS, never a payload field), on a Core connection (issue 15).
At most ``pool_size`` ingest transactions run at once (:attr:`IngestPool.slots`); batches beyond wait
for a slot, and their agents for acks (back-pressure), instead of opening overflow connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from cloud.db.engine import Database, asyncpg_url
from cloud.settings import DatabaseSettings
from tenants.context import Principal
from tenants.rls import scope_connection

__all__ = ["IngestPool"]


class IngestPool:
    """Connections for the hub's ingest transactions; one per cloud process (``app.state.hub_ingest``)."""

    def __init__(self, settings: DatabaseSettings, database: Database) -> None:
        """Prepare the pool (connections open lazily); without an app URL the shared pool is used."""
        self.slots = asyncio.Semaphore(max(1, settings.pool_size))
        self._settings = settings
        self._database = database
        self._engine: AsyncEngine | None = None
        self._own = bool(settings.app_url)

    def _engine_of(self) -> AsyncEngine:
        if self._engine is None:
            if not self._own:
                return self._database.app_engine
            self._engine = create_async_engine(
                asyncpg_url(self._settings.app_url),
                pool_size=max(1, self._settings.pool_size),
                max_overflow=0,  # the slots keep checkouts within the pool
                pool_pre_ping=False,
                echo=self._settings.echo,
            )
        return self._engine

    @asynccontextmanager
    async def transaction(self, principal: Principal) -> AsyncIterator[AsyncConnection]:
        """A Core connection in a transaction scoped to ``principal``, committed on exit (hold a slot around it).

        Core, not an ORM session: the ingest writes with one text statement (``cloud.ledger.passes``) and
        the session's bookkeeping around begin, execute and commit was a fifth of the hub's CPU per batch
        (``bench/ingest.py --py-spy``, issue 15). The scope is set by ``tenants.rls.scope_connection``,
        the same statement the sessions' listener runs.
        """
        async with self._engine_of().begin() as connection:
            await scope_connection(connection, principal)
            yield connection

    async def dispose(self) -> None:
        """Close the pool's connections (at application shutdown)."""
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
