"""The hub's own connection pool for ingest transactions (app role, RLS as everywhere, no pre-ping).

At 500 batches/s the application pool's pre-ping (one extra round trip at every checkout) was a tenth
of the hub's CPU time (``bench/ingest.py --py-spy``). The ingest path does not need it: a connection
that died under a batch fails that batch's transaction, SQLAlchemy discards the connection, the hub
closes the agent's socket with 1011 and the agent resends after reconnecting (nothing acked, nothing
lost; ``tests/sync/test_faults.py`` restarts PostgreSQL under load).

Sessions come from the same :class:`tenants.rls.TenantSession` class as every other session, so each
transaction is scoped to the agent's principal by the same listener (RLS, never a payload field).
At most ``pool_size`` ingest transactions run at once (:attr:`IngestPool.slots`); batches beyond wait
for a slot, and their agents for acks (back-pressure), instead of opening overflow connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from cloud.db.engine import Database, asyncpg_url
from cloud.settings import DatabaseSettings
from tenants.context import Principal
from tenants.rls import TenantSession, bind_principal

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
        self._maker: async_sessionmaker[AsyncSession] | None = None

    def _session_maker(self) -> async_sessionmaker[AsyncSession]:
        if self._maker is None:
            if self._own:
                self._engine = create_async_engine(
                    asyncpg_url(self._settings.app_url),
                    pool_size=max(1, self._settings.pool_size),
                    max_overflow=0,  # the slots keep checkouts within the pool
                    pool_pre_ping=False,
                    echo=self._settings.echo,
                )
                engine = self._engine
            else:
                engine = self._database.app_engine
            self._maker = async_sessionmaker(engine, expire_on_commit=False, sync_session_class=TenantSession)
        return self._maker

    @asynccontextmanager
    async def session(self, principal: Principal) -> AsyncIterator[AsyncSession]:
        """A session whose transactions are scoped to ``principal`` (hold a slot around it)."""
        async with self._session_maker()() as session:
            bind_principal(session.sync_session, principal)
            yield session

    async def dispose(self) -> None:
        """Close the pool's connections (at application shutdown)."""
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
            self._maker = None
