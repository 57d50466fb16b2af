"""The composition root: ``create_app(settings)`` assembles the Litestar application.

It mounts the routers of ``frontend_api`` (portal JSON API) and, later, the agent hub; nothing
imports this module (ARCHITECTURE.md "Top-level layout").
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth.guards import authenticated, provide_principal
from cloud.auth.web import OriginCheckMiddleware, security_headers
from cloud.billing import scheduler as billing_scheduler
from cloud.blobs import open_store
from cloud.db.engine import Database
from cloud.hub import agent_socket
from cloud.hub.checks import ChecksRunner
from cloud.hub.commands import CommandBus
from cloud.hub.pool import IngestPool
from cloud.jobs import Handler, JobRunner
from cloud.lib.limits import InputLimits
from cloud.lib.problems import EXCEPTION_HANDLERS, document_problems
from cloud.logging import RequestContext, bind_principal, configure_logging, litestar_logging_config
from cloud.metrics import metrics_endpoint
from cloud.settings import Settings
from cloud.uplink.worker import UplinkWorker
from tenants.context import Principal

log = structlog.get_logger(__name__)


@get("/health", opt={"public": True}, include_in_schema=False, sync_to_thread=False)
def health() -> dict[str, str]:
    """Liveness probe."""
    return {"status": "ok"}


def create_app(settings: Settings, database: Database | None = None) -> Litestar:
    """Build the cloud application from explicit settings."""
    from frontend_api.api import routers  # noqa: PLC0415 - composition root only
    from frontend_api.portal import routes as portal_routes  # noqa: PLC0415 - composition root only

    # Production mode refuses weak or missing secrets (issue 17); development generates what is missing.
    settings.check_secrets()
    if not structlog.is_configured():
        configure_logging()  # never the default renderer, whose tracebacks print every frame's locals
    if not settings.auth.session_secret:
        log.warning("ECOGATE_SESSION_SECRET not set; using a random secret (sessions end on restart)")
    secret = settings.auth.session_secret or secrets.token_urlsafe(32)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = database or Database.from_settings(settings.database)
        app.state.database = db
        # One LISTEN task per process forwards agent commands across replicas (docs/sync.md).
        bus = CommandBus(db, settings.database.app_url)
        app.state.command_bus = bus
        bus_stop = asyncio.Event()
        bus_task = asyncio.create_task(bus.run(bus_stop))
        # One logic-checks runner per process for the tenants whose agents stored batches (issue 6).
        checks = ChecksRunner(settings.database)
        app.state.hub_checks = checks
        # The hub's ingest transactions: their own bounded pool without pre-ping (cloud/hub/pool.py).
        ingest = IngestPool(settings.database, db)
        app.state.hub_ingest = ingest
        # Regulator uplink workers in this process (issue 8; ``ecogate uplink run`` is the other way).
        uplink_tasks = [
            asyncio.create_task(UplinkWorker(db, blob_store).run(bus_stop)) for _ in range(_uplink_workers())
        ]
        # Background jobs (exports) claimed from PostgreSQL with a lease by every replica (ADR 0031).
        job_tasks = [
            asyncio.create_task(JobRunner(db, blob_store, job_handlers(), settings.jobs).run(bus_stop))
            for _ in range(settings.jobs.runners)
        ]
        # The hourly dunning sweep (issue 22; several replicas sweeping is harmless, docs/billing.md).
        billing_task = asyncio.create_task(billing_scheduler.run(db, bus_stop, first_after_s=60.0))
        try:
            yield
        finally:
            bus_stop.set()
            await bus_task
            await asyncio.gather(billing_task, return_exceptions=True)
            await checks.stop()
            await ingest.dispose()
            await asyncio.gather(*uplink_tasks, return_exceptions=True)
            await _stop_jobs(job_tasks)
            if database is None:
                await db.dispose()

    app = Litestar(
        route_handlers=[health, metrics_endpoint, agent_socket, *routers(), *portal_routes()],
        guards=[authenticated],
        dependencies={
            "principal": Provide(provide_principal, sync_to_thread=False),
            "session": Provide(_session_dependency),
            "blob_store": Provide(lambda: blob_store, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            RequestContext,  # request id for every log line, echoed in X-Request-ID (issue 21)
            InputLimits(),  # size, depth, control characters, 64-bit integers (issue 17)
            # Cross-site writes refused in one place (cloud/auth/web.py, issue 17).
            OriginCheckMiddleware(settings.server.public_url, settings.auth.trust_forwarded),
        ],
        logging_config=litestar_logging_config(),  # JSON lines: Litestar's logger joins the JSON handler
        before_request=bind_principal,  # the signed-in principal's tenant into the log context (issue 21)
        before_send=[security_headers(settings.auth)],  # CSP, frame, nosniff, HSTS on every response
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="EcoGate 环保门禁电子台账云平台 API",
            version="1.0.0",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        request_max_body_size=settings.blobs.max_bytes + 1024 * 1024,
        debug=False,
    )
    document_problems(app.openapi_schema)  # every operation may answer a 4xx Problem Details
    blob_store = open_store(settings.blobs)  # the one store of the process (issue 20)
    app.state.blobs = blob_store
    app.state.settings = _with_secret(settings, secret)
    return app


async def _session_dependency(principal: NamedDependency[Principal], state: State) -> AsyncIterator[AsyncSession]:
    database: Database = state.database
    async with database.session(principal) as session:
        yield session


def job_handlers() -> dict[str, Handler]:
    """The handler of each background job kind (``cloud.jobs``)."""
    from cloud.reports import exports  # noqa: PLC0415

    return {exports.JOB_KIND: exports.run_export}


async def _stop_jobs(tasks: list[asyncio.Task[None]]) -> None:
    """Stop the job runners: a running job is handed back at once (queued) for another replica."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _uplink_workers() -> int:
    """``ECOGATE_UPLINK_WORKERS``: uplink workers to run inside the cloud process (default 0)."""
    import os  # noqa: PLC0415

    raw = os.environ.get("ECOGATE_UPLINK_WORKERS", "0")
    try:
        return max(0, min(8, int(raw)))
    except ValueError:
        log.warning("ECOGATE_UPLINK_WORKERS is not a number; no uplink workers", value=raw)
        return 0


def _with_secret(settings: Settings, secret: str) -> Settings:
    from dataclasses import replace  # noqa: PLC0415

    return replace(settings, auth=replace(settings.auth, session_secret=secret))
