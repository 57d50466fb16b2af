"""Engines and sessions: one pool per database role, tenant set per transaction by tenants.rls.

Requests and jobs open short sessions through :meth:`Database.session` with the authenticated
principal; regulators get the regulator pool. Nothing holds a session across a websocket's life.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from cloud.db import sealing  # noqa: F401 - registers the cloud-chain session hooks
from cloud.settings import DatabaseSettings
from tenants.context import Principal
from tenants.rls import TenantSession, bind_login_lookup, bind_principal, bind_system


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


@dataclass
class Database:
    """The application's and the regulators' connection pools."""

    app_engine: AsyncEngine
    regulator_engine: AsyncEngine

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> Database:
        """Create both pools (connections open lazily)."""
        if not settings.app_url or not settings.regulator_url:
            raise RuntimeError(
                "数据库未配置：请设置 DATABASE_APP_URL 与 DATABASE_REGULATOR_URL，或先运行 ecogate db bootstrap"
            )
        return cls(_engine(settings.app_url, settings), _engine(settings.regulator_url, settings))

    def _maker(self, engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
        return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=TenantSession)

    @asynccontextmanager
    async def session(self, principal: Principal) -> AsyncIterator[AsyncSession]:
        """A session whose every transaction is scoped to ``principal`` (regulators: their own pool)."""
        engine = self.regulator_engine if principal.is_regulator else self.app_engine
        async with self._maker(engine)() as session:
            bind_principal(session.sync_session, principal)
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
        """Close both pools."""
        await self.app_engine.dispose()
        await self.regulator_engine.dispose()
