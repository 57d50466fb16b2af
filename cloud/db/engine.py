"""Engines and sessions: one pool per database role, tenant set per transaction by tenants.rls.

Requests and jobs open short sessions through :meth:`Database.session` with the authenticated
principal; regulators get the regulator pool. Nothing holds a session across a websocket's life.

With ``DATABASE_REPLICA_URL`` the regulator pool reads from a streaming replica while the replica is
at most ``DATABASE_REPLICA_MAX_LAG_S`` behind the primary, and from the primary otherwise
(:class:`ReplicaRouter`, docs/adr/0036). The regulator role is read-only, so nothing it runs needs
the primary; same roles, same RLS policies on the replica (physical replication).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from cloud.db import sealing  # noqa: F401 - registers the cloud-chain session hooks
from cloud.settings import DatabaseSettings
from tenants.context import Principal
from tenants.rls import TenantSession, bind_login_lookup, bind_principal, bind_system

log = structlog.get_logger(__name__)


def asyncpg_url(url: str) -> str:
    """Accept ``postgresql://`` URLs too."""
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    return url


def _engine(url: str, settings: DatabaseSettings) -> AsyncEngine:
    return create_async_engine(
        asyncpg_url(url),
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_pre_ping=True,
        echo=settings.echo,
        # Statement parameters stay out of exception messages, hence out of logged tracebacks (issue 17).
        hide_parameters=not settings.echo,
    )


def on_replica(role_url: str, replica_url: str) -> str:
    """``role_url`` with the host and port (and database, when given) of ``replica_url``; credentials kept."""
    role, replica = urlsplit(asyncpg_url(role_url)), urlsplit(asyncpg_url(replica_url))
    userinfo = role.netloc.rsplit("@", 1)[0] + "@" if "@" in role.netloc else ""
    path = replica.path if replica.path not in ("", "/") else role.path
    return urlunsplit((role.scheme, userinfo + replica.netloc.rsplit("@", 1)[-1], path, role.query, ""))


_CURRENT_LSN: Final = text("SELECT (pg_current_wal_lsn() - '0/0')::bigint")
_REPLAYED_LSN: Final = text("SELECT (pg_last_wal_replay_lsn() - '0/0')::bigint")


async def current_lsn(conn: AsyncConnection | AsyncSession) -> int:
    """The primary's current WAL position (bytes): everything committed before the call lies at or below it."""
    return int(await conn.scalar(_CURRENT_LSN))


async def replayed_lsn(conn: AsyncConnection) -> int | None:
    """The WAL position (bytes) a streaming replica has replayed; None on a server not in recovery."""
    replayed = await conn.scalar(_REPLAYED_LSN)
    return None if replayed is None else int(replayed)


#: ``session.info`` key of a session on the streaming replica (read-only: hot standby).
REPLICA: Final = "ecogate.on_replica"


@dataclass
class ReplicaRouter:
    """Tells whether the replica is fresh enough for a read; checked at most once per ``check_every_s``.

    Each check samples the primary's WAL position (time t, LSN p), then the replica's replayed LSN r.
    The replica holds everything committed by the newest sampled time t whose p ≤ r; reads go to it
    while that time is at most ``max_lag_s`` old. So a read on the replica misses at most the last
    ``max_lag_s + check_every_s`` seconds of commits; a paused, disconnected or unreachable replica
    ages out of use within ``max_lag_s`` and the reads go to the primary.
    """

    primary: AsyncEngine
    replica: AsyncEngine
    max_lag_s: float = 5.0
    check_every_s: float = 1.0
    fresh_as_of: float = -math.inf
    _checked: float = -math.inf
    _samples: deque[tuple[float, int]] = field(default_factory=deque)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def staleness_s(self) -> float:
        """Seconds since the newest moment the replica is known to hold (inf when never)."""
        return time.monotonic() - self.fresh_as_of

    async def use_replica(self) -> bool:
        """True when the replica's data is at most ``max_lag_s`` old (checking first when due)."""
        if time.monotonic() - self._checked >= self.check_every_s and not self._lock.locked():
            async with self._lock:
                await self.check()
        return self.staleness_s() <= self.max_lag_s

    async def check(self) -> None:
        """Sample the primary's and the replica's WAL positions (failures leave the replica ageing out)."""
        self._checked = time.monotonic()
        try:
            async with asyncio.timeout(2.0):
                async with self.primary.connect() as conn:
                    primary_lsn = await current_lsn(conn)
                sampled = time.monotonic()
                async with self.replica.connect() as conn:
                    replayed = await replayed_lsn(conn)
        except (DBAPIError, SQLAlchemyError, OSError, TimeoutError) as exc:
            log.warning("db.replica_check_failed", error=type(exc).__name__, staleness_s=round(self.staleness_s(), 1))
            return
        self._samples.append((sampled, primary_lsn))
        if len(self._samples) > 600:  # a replica that stopped replaying: older samples are past the bound anyway
            self._samples.popleft()
        if replayed is None:  # not in recovery: a promoted or wrong server is no replica
            log.warning("db.replica_not_in_recovery")
            return
        while self._samples and self._samples[0][1] <= replayed:
            at, _ = self._samples.popleft()
            self.fresh_as_of = max(self.fresh_as_of, at)


@dataclass
class Database:
    """The application's and the regulators' connection pools (and the regulators' replica pool)."""

    app_engine: AsyncEngine
    regulator_engine: AsyncEngine
    #: The regulator role on the streaming replica, when ``DATABASE_REPLICA_URL`` is set.
    replica_regulator_engine: AsyncEngine | None = None
    replica_router: ReplicaRouter | None = None
    #: The app role on the streaming replica: tenant users' report reads (``cloud.reports.reading``).
    replica_app_engine: AsyncEngine | None = None

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> Database:
        """Create the pools (connections open lazily)."""
        if not settings.app_url or not settings.regulator_url:
            raise RuntimeError(
                "数据库未配置：请设置 DATABASE_APP_URL 与 DATABASE_REGULATOR_URL，或先运行 ecogate db bootstrap"
            )
        app, regulator = _engine(settings.app_url, settings), _engine(settings.regulator_url, settings)
        if not settings.replica_url:
            return cls(app, regulator)
        replica = _engine(on_replica(settings.regulator_url, settings.replica_url), settings)
        replica_app = _engine(on_replica(settings.app_url, settings.replica_url), settings)
        return cls(app, regulator, replica, ReplicaRouter(app, replica, settings.replica_max_lag_s), replica_app)

    async def _regulator_engine(self) -> AsyncEngine:
        replica, router = self.replica_regulator_engine, self.replica_router
        if replica is not None and router is not None and await router.use_replica():
            return replica
        return self.regulator_engine

    def _maker(self, engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
        return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=TenantSession)

    @asynccontextmanager
    async def session(self, principal: Principal) -> AsyncIterator[AsyncSession]:
        """A session whose every transaction is scoped to ``principal`` (regulators: their own pool)."""
        engine = await self._regulator_engine() if principal.is_regulator else self.app_engine
        async with self._maker(engine)() as session:
            bind_principal(session.sync_session, principal)
            yield session

    async def replica_holds(self, lsn: int) -> bool:
        """True when the replica has replayed the primary's WAL up to ``lsn`` (False without a replica or on error)."""
        if self.replica_app_engine is None:
            return False
        try:
            async with asyncio.timeout(2.0), self.replica_app_engine.connect() as conn:
                replayed = await replayed_lsn(conn)
        except (DBAPIError, SQLAlchemyError, OSError, TimeoutError) as exc:
            log.warning("db.replica_check_failed", error=type(exc).__name__)
            return False
        return replayed is not None and replayed >= lsn

    @asynccontextmanager
    async def replica_session(self, principal: Principal) -> AsyncIterator[AsyncSession]:
        """A read-only session of a tenant user on the replica (ask :meth:`replica_holds` first).

        ``session.info[REPLICA]`` is set so that code which would write on a primary session (the
        reports' refresh of stale aggregates) reads raw instead.
        """
        if self.replica_app_engine is None or principal.is_regulator:
            raise RuntimeError("replica_session: no replica, or a regulator (whose session() routes itself)")
        async with self._maker(self.replica_app_engine)() as session:
            bind_principal(session.sync_session, principal)
            session.info[REPLICA] = True
            yield session

    @asynccontextmanager
    async def login_session(self, login: str) -> AsyncIterator[AsyncSession]:
        """A session that can see only the account named ``login`` (for password checks)."""
        async with self._maker(self.app_engine)() as session:
            bind_login_lookup(session.sync_session, login)
            yield session

    @asynccontextmanager
    async def system_session(self, reason: str) -> AsyncIterator[AsyncSession]:
        """An app-role session with no tenant, for deliberate, logged system work (sees no tenant rows)."""
        async with self._maker(self.app_engine)() as session:
            bind_system(session.sync_session, reason)
            yield session

    async def dispose(self) -> None:
        """Close the pools."""
        await self.app_engine.dispose()
        await self.regulator_engine.dispose()
        if self.replica_regulator_engine is not None:
            await self.replica_regulator_engine.dispose()
        if self.replica_app_engine is not None:
            await self.replica_app_engine.dispose()
