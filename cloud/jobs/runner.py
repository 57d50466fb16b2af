"""The job runner every cloud replica runs: claim with a lease, heartbeat, store the result, fence every write.

Transactions are short: one to find tenants with due jobs (``job_due_tenants()``, the one cross-tenant
read), one to claim a row, one per progress step and lease renewal, one to settle. None is open while a
handler renders a file or while the result is uploaded to the blob store.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from sqlalchemy import text

from cloud import blobs as blob_records
from cloud.blobs import Blobs
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.jobs.records import Actor, JobResult, actor_of
from cloud.settings import JobSettings
from tenants.context import Principal, Role

log = structlog.get_logger(__name__)

#: The principal of the runner's own bookkeeping transactions (claim, lease, settle) on a tenant's rows.
_RUNNER_USER: Final = uuid.UUID(int=0x70B5)

_CLAIM = text(
    """
WITH due AS (
    SELECT j.tenant_id, j.id FROM background_job j
    WHERE j.tenant_id = :tenant_id AND j.kind = ANY(CAST(:kinds AS text[]))
      AND (j.status = 'queued' OR (j.status = 'running' AND j.lease_until < now()))
    ORDER BY j.created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE background_job c
SET status = 'running', claimed_by = :claim, attempts = c.attempts + 1, heartbeat_at = now(),
    lease_until = now() + make_interval(secs => CAST(:lease_s AS double precision)), updated_at = now()
FROM due WHERE c.tenant_id = due.tenant_id AND c.id = due.id
RETURNING c.id
"""
)
_RENEW = text(
    """
UPDATE background_job SET heartbeat_at = now(), updated_at = now(),
    lease_until = now() + make_interval(secs => CAST(:lease_s AS double precision))
WHERE tenant_id = :tenant_id AND id = :id AND claimed_by = :claim AND status = 'running'
"""
)
_PROGRESS = text(
    """
UPDATE background_job SET progress = GREATEST(progress, :progress), updated_at = now()
WHERE tenant_id = :tenant_id AND id = :id AND claimed_by = :claim AND status = 'running'
"""
)
_SETTLE = text(
    """
UPDATE background_job SET status = :status, progress = COALESCE(CAST(:progress AS smallint), progress),
    error = :error, result_sha256 = :sha,
    result_filename = :filename, result_content_type = :content_type, result_rows = :rows,
    finished_at = now(), updated_at = now(), lease_until = NULL
WHERE tenant_id = :tenant_id AND id = :id AND claimed_by = :claim AND status = 'running'
"""
)


_RELEASE = text(
    """
UPDATE background_job SET status = 'queued', claimed_by = NULL, lease_until = NULL, updated_at = now()
WHERE tenant_id = :tenant_id AND id = :id AND claimed_by = :claim AND status = 'running'
"""
)


class LeaseLostError(RuntimeError):
    """Another replica took the job over (this one's lease ran out): stop working on it."""


@dataclass
class JobContext:
    """What a handler gets: the job, whom it runs as, the stores, and a progress reporter."""

    job: m.BackgroundJob
    actor: Actor
    database: Database
    blobs: Blobs
    settings: JobSettings
    report: Callable[[int], Awaitable[None]]

    @property
    def principal(self) -> Principal:
        """The principal that queued the job, scoped to its tenant."""
        return self.actor.principal(self.job.tenant_id)

    async def progress(self, percent: int) -> None:
        """Record progress (0–100); raises :class:`LeaseLostError` when the job is no longer ours."""
        await self.report(max(0, min(99, percent)))

    async def pause(self) -> None:
        """The configured pause between chunks (``ECOGATE_JOB_CHUNK_PAUSE_S``; 0 in production)."""
        if self.settings.chunk_pause_s > 0:
            await asyncio.sleep(self.settings.chunk_pause_s)


Handler = Callable[[JobContext], Coroutine[Any, Any, JobResult]]


@dataclass
class RunnerStats:
    """What this runner did (logs, tests)."""

    claimed: int = 0
    done: int = 0
    failed: int = 0
    lost: int = 0


@dataclass
class JobRunner:
    """Claims and runs due jobs of every tenant until stopped (one per replica; more are safe)."""

    database: Database
    blobs: Blobs
    handlers: dict[str, Handler]
    settings: JobSettings = field(default_factory=JobSettings)
    #: Identifies this runner in logs (host and process).
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    stats: RunnerStats = field(default_factory=RunnerStats)

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; poll every ``poll_s`` when nothing was due."""
        log.info("jobs.runner_started", runner=self.name, lease_s=self.settings.lease_s)
        while not stop.is_set():
            try:
                worked = await self.run_once()
            except Exception:
                log.exception("jobs.pass_failed", runner=self.name)
                worked = False
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.poll_s)
        log.info("jobs.runner_stopped", runner=self.name, **self.stats.__dict__)

    async def run_once(self) -> bool:
        """Claim and run at most one due job; True when one ran."""
        async with self.database.system_session("jobs: tenants with due jobs") as session, session.begin():
            tenants = list(await session.scalars(text("SELECT job_due_tenants()")))
        for tenant_id in tenants:
            claimed = await self._claim(tenant_id)
            if claimed is not None:
                await self._run(tenant_id, *claimed)
                return True
        return False

    async def _claim(self, tenant_id: uuid.UUID) -> tuple[uuid.UUID, m.BackgroundJob] | None:
        claim = uuid.uuid4()
        # Only kinds this runner can run: during a rolling upgrade an older replica leaves a new kind alone.
        kinds = sorted(self.handlers)
        params = {"tenant_id": tenant_id, "claim": claim, "lease_s": self.settings.lease_s, "kinds": kinds}
        async with self.database.session(_runner(tenant_id)) as session, session.begin():
            job_id = await session.scalar(_CLAIM, params)
            if job_id is None:
                return None
            job = await session.get(m.BackgroundJob, (tenant_id, job_id), populate_existing=True)
        assert job is not None
        self.stats.claimed += 1
        log.info("jobs.claimed", runner=self.name, job_id=str(job_id), kind=job.kind, attempt=job.attempts)
        return claim, job

    async def _run(self, tenant_id: uuid.UUID, claim: uuid.UUID, job: m.BackgroundJob) -> None:
        keys = {"tenant_id": tenant_id, "id": job.id, "claim": claim}
        if job.attempts > self.settings.max_attempts:
            await self._settle(keys, "failed", error="任务多次中断，已停止重试，请重新创建")
            return
        handler = self.handlers.get(job.kind)
        if handler is None:
            await self._settle(keys, "failed", error=f"未知的任务类型：{job.kind}")
            return

        await self._execute(tenant_id, keys, job, handler)

    async def _execute(
        self, tenant_id: uuid.UUID, keys: dict[str, Any], job: m.BackgroundJob, handler: Handler
    ) -> None:
        """Run the handler beside the heartbeat; store the result and settle, or fail, or hand the job back."""

        async def report(percent: int) -> None:
            if not await self._write(tenant_id, _PROGRESS, {**keys, "progress": percent}):
                raise LeaseLostError(str(job.id))

        context = JobContext(job, actor_of(job), self.database, self.blobs, self.settings, report)
        lost = asyncio.Event()
        work = asyncio.create_task(handler(context), name=f"job-{job.id}")
        beat = asyncio.create_task(self._heartbeat(tenant_id, keys, work, lost), name=f"job-lease-{job.id}")
        try:
            if not await self._finish(tenant_id, keys, job, await work):
                lost.set()
        except LeaseLostError:
            lost.set()
        except asyncio.CancelledError:
            if not lost.is_set():  # this replica is stopping: hand the job back at once
                await asyncio.shield(self._write(tenant_id, _RELEASE, keys))
                log.info("jobs.released", runner=self.name, job_id=str(job.id))
                raise
        except Exception as exc:
            log.exception("jobs.failed", runner=self.name, job_id=str(job.id), kind=job.kind)
            await self._fail(keys, exc)
        finally:
            await _stop(beat, work)
        if lost.is_set():
            self.stats.lost += 1
            log.warning("jobs.lease_lost", runner=self.name, job_id=str(job.id))

    async def _fail(self, keys: dict[str, Any], exc: Exception) -> None:
        detail = getattr(exc, "detail", None) or f"任务失败：{type(exc).__name__}"
        if await self._settle(keys, "failed", error=str(detail)[:500]):
            self.stats.failed += 1

    async def _finish(
        self, tenant_id: uuid.UUID, keys: dict[str, Any], job: m.BackgroundJob, result: JobResult
    ) -> bool:
        """Store the file (outside any transaction), record its blob row, settle the job; False when not ours."""
        sha = await asyncio.to_thread(self.blobs.put, result.content)
        async with self.database.session(_runner(tenant_id)) as session, session.begin():
            # blob.content_type holds 64 characters; the Excel type has 65 (the job row keeps the full one).
            kind = result.content_type if len(result.content_type) <= 64 else "application/octet-stream"
            await blob_records.record(session, tenant_id, sha, len(result.content), kind)
        if not await self._settle(keys, "done", result=result, sha=sha):
            return False
        self.stats.done += 1
        log.info("jobs.done", runner=self.name, job_id=str(job.id), kind=job.kind, rows=result.rows)
        return True

    async def _heartbeat(
        self, tenant_id: uuid.UUID, keys: dict[str, Any], work: asyncio.Task[JobResult], lost: asyncio.Event
    ) -> None:
        """Renew the lease every third of it; cancel the work when the job is no longer ours."""
        every = max(0.2, self.settings.lease_s / 3)
        while not work.done():
            await asyncio.sleep(every)
            try:
                ours = await self._write(tenant_id, _RENEW, {**keys, "lease_s": self.settings.lease_s})
            except Exception:
                log.exception("jobs.renew_failed", runner=self.name, job_id=str(keys["id"]))
                continue  # the database is away: keep working, the lease decides
            if not ours:
                lost.set()
                work.cancel()
                return

    async def _write(self, tenant_id: uuid.UUID, statement: Any, params: dict[str, Any]) -> bool:
        async with self.database.session(_runner(tenant_id)) as session, session.begin():
            result: Any = await session.execute(statement, params)
            return bool(result.rowcount)

    async def _settle(
        self,
        keys: dict[str, Any],
        status: str,
        *,
        result: JobResult | None = None,
        sha: str | None = None,
        error: str | None = None,
    ) -> bool:
        values = {
            **keys,
            "status": status,
            "progress": 100 if status == "done" else None,
            "error": error,
            "sha": sha,
            "filename": result.filename if result else None,
            "content_type": result.content_type if result else None,
            "rows": result.rows if result else None,
        }
        return await self._write(keys["tenant_id"], _SETTLE, values)


async def _stop(beat: asyncio.Task[None], work: asyncio.Task[JobResult]) -> None:
    beat.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await beat
    if not work.done():
        work.cancel()


def _runner(tenant_id: uuid.UUID) -> Principal:
    return Principal(user_id=_RUNNER_USER, role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="job-runner")
