"""Report reads of tenant users on the streaming replica, when it holds the report's refresh (issue 20).

A tenant user's report first brings the stale report aggregates up to date on the primary
(``service.open_scope``: a write, in a short transaction of its own), notes the primary's WAL position
after that commit, and then reads on the replica if the replica has replayed that position — it then
holds the refreshed aggregates and every pass committed before them — else on the primary. So a
report read on the replica is never older than the refresh it asked for; what it can miss is only
what was committed after it (the same as a read racing a commit on the primary). Regulators' sessions
route themselves (``cloud.db.engine.Database.session``, docs/adr/0036). Without a replica nothing
changes: one session on the primary, as before.

Why the replica path takes three steps: the WAL position must be read after the refresh commits (a
position read inside its transaction precedes its commit record), and the scope is resolved again on
the replica because the raw days are those of the replica's snapshot (passes committed after the
refresh that the replica already holds make their days raw there).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.engine import Database, current_lsn
from cloud.reports import service
from tenants.context import Principal

__all__ = ["report_reads"]

log = structlog.get_logger(__name__)


@asynccontextmanager
async def report_reads(
    database: Database, session: AsyncSession, principal: Principal, tenant_id: uuid.UUID
) -> AsyncIterator[tuple[AsyncSession, service.Scope]]:
    """The session to read a report with (inside a transaction) and the report's scope.

    ``session`` is the request's primary session (not in a transaction). 404 when the enterprise is
    not the principal's, as :func:`service.open_scope`.
    """
    if principal.is_regulator or database.replica_app_engine is None:
        async with session.begin():
            yield session, await service.open_scope(session, principal, tenant_id)
        return
    async with session.begin():
        scope = await service.open_scope(session, principal, tenant_id)  # the refresh, on the primary
    async with session.begin():
        lsn = await current_lsn(session)
    if not await database.replica_holds(lsn):
        log.info("reports.read_on_primary", reason="replica behind the refresh")
        async with session.begin():
            yield session, scope
        return
    log.info("reports.read_on_replica", lsn=lsn)
    async with database.replica_session(principal) as replica, replica.begin():
        yield replica, await service.open_scope(replica, principal, tenant_id)
