"""Job rows: queue a job in the caller's transaction, read jobs back, fetch a finished job's file."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.blobs import Blobs
from cloud.db import models as m
from cloud.domain import audit
from cloud.lib.problems import ProblemError, not_found
from tenants.context import Principal, Role


@dataclass(frozen=True)
class Actor:
    """Who the job runs as (the principal that queued it), kept in the row's ``params``."""

    user_id: uuid.UUID
    role: str
    login: str

    def principal(self, tenant_id: uuid.UUID) -> Principal:
        """The principal for the job's transactions (RLS scoped to the job's tenant)."""
        return Principal(user_id=self.user_id, role=Role(self.role), tenant_id=tenant_id, login=self.login)

    def as_params(self) -> dict[str, str]:
        """JSON form."""
        return {"user_id": str(self.user_id), "role": str(self.role), "login": self.login}


def actor_of(job: m.BackgroundJob) -> Actor:
    """The actor stored in a job's params."""
    raw: Any = job.params.get("actor") or {}
    return Actor(uuid.UUID(str(raw["user_id"])), str(raw["role"]), str(raw.get("login", "")))


@dataclass(frozen=True)
class JobResult:
    """What a handler produced: the file and its description."""

    content: bytes
    filename: str
    content_type: str
    rows: int | None = None


async def enqueue(
    session: AsyncSession,
    principal: Principal,
    tenant_id: uuid.UUID,
    kind: str,
    params: dict[str, Any],
    *,
    audit_action: str,
) -> m.BackgroundJob:
    """Queue a job in the caller's transaction (audited); any replica's runner picks it up after the commit."""
    job = m.BackgroundJob(
        tenant_id=tenant_id,
        kind=kind,
        params={**params, "actor": Actor(principal.user_id, str(principal.role), principal.login).as_params()},
        status="queued",
        progress=0,
        attempts=0,
        created_by=principal.user_id,
    )
    session.add(job)
    await session.flush()
    audit.record(session, principal, audit_action, "background_job", job.id, {"kind": kind})
    await session.refresh(job)
    return job


async def list_jobs(
    session: AsyncSession, tenant_id: uuid.UUID, kind: str, limit: int, offset: int
) -> list[m.BackgroundJob]:
    """Jobs of one kind of the tenant, newest first."""
    return list(
        await session.scalars(
            select(m.BackgroundJob)
            .where(m.BackgroundJob.tenant_id == tenant_id, m.BackgroundJob.kind == kind)
            .order_by(m.BackgroundJob.created_at.desc(), m.BackgroundJob.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


async def get_job(session: AsyncSession, tenant_id: uuid.UUID, job_id: uuid.UUID, kind: str) -> m.BackgroundJob:
    """One job; 404 when it is not the caller's to see (another tenant's, another kind, or none)."""
    job = await session.scalar(
        select(m.BackgroundJob).where(
            m.BackgroundJob.tenant_id == tenant_id, m.BackgroundJob.id == job_id, m.BackgroundJob.kind == kind
        )
    )
    if job is None:
        raise not_found("后台任务")
    return job


async def result_bytes(blobs: Blobs, job: m.BackgroundJob) -> bytes:
    """The finished job's file from the blob store.

    Raises:
        ProblemError: 409 ``export_not_ready`` while the job has not finished; 410 ``export_expired`` once the
            retention run expired it (cloud.retention.expire_job_files); 410 ``job_result_gone`` when the
            file is no longer in the store.
    """
    if job.status == "expired":
        raise ProblemError(410, "export_expired", "导出文件已过期", "导出文件已过期，请重新导出")
    if job.status != "done" or job.result_sha256 is None:
        raise ProblemError(409, "export_not_ready", "导出尚未完成", "导出任务尚未完成，请稍后再试")
    try:
        return await asyncio.to_thread(blobs.get, job.result_sha256)
    except FileNotFoundError as exc:
        raise ProblemError(410, "job_result_gone", "文件已不存在", "该任务的文件已被清理，请重新创建任务") from exc
