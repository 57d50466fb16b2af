"""Retention of evidence (issue 21): photos and video past a tenant's period lose their bytes, never their record.

REGULATION.md (HJ 1321-2023): ledgers, pass details and photos are kept at least **24 months**, video at least
**12 months**. Per tenant (``retention_setting``, newest row wins, never below the floors) the daily run:

* keeps every record: pass rows, weighings, corrections, chains and anchors are never deleted, so the ledger
  is complete and ``ecogate ledger verify`` still passes (hashes cover the digests, not the bytes);
* purges the **bytes** of photos (the pass's snapshots) of passes older than the photo period and of video
  (the sealed clip and late clips) of passes older than the video period, unless a younger pass or a vehicle
  document names the same object; each purged object is a ``retention_purge`` row (digest, kind, pass,
  cutoff, reason) and the run is one audit entry;
* does nothing at all for a tenant under a legal hold (``legal_hold``, newest row active);
* deletes a blob file only when no tenant that stored it still holds it (``blob_unpurged_holders``):
  files are content-addressed and shared.

Periods are calendar months in 北京时间 (a pass of 2024-12-07 08:00 CST is purged from 2026-12-07 on with
24 months). ``ecogate retention run [--now …] [--dry-run]`` runs it for every tenant; the filesystem blob
store has no storage classes, so moving media to a colder class past the hot period is the object store's
lifecycle rule (terraform/modules/storage) until the S3 backend lands (issue 20).

Storage classes (issue 20): after the purge, media of passes older than the hot period (``HOT_MONTHS``, 3 by
default; ``ECOGATE_BLOB_HOT_MONTHS``) move to the blob store's cold class (``cloud.blobs``: S3 ``STANDARD_IA``
or ``GLACIER_IR``, OSS ``IA``; the filesystem store's ``cold/`` tier), each object recorded in
``retention_move`` and the run audited (``retention.moved_cold``); the bytes stay readable at once.

Job files (session 7, ADR 0040): a finished background job's file (report exports) is a copy of the ledger,
kept ``file_keep_days`` (``ECOGATE_JOB_FILE_KEEP_DAYS``, 7) after the job finished. Past that the run marks
the job ``expired`` (the row and its digest stay; the API and portal show 已过期, the download answers 410),
records a ``retention_purge`` row of kind ``export`` and deletes the file when no tenant still holds it and
no finished job of the tenant still names it (:func:`expire_job_files`). A legal hold keeps them too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Final
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.blobs import Blobs
from cloud.compliance import emergency
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import audit
from tenants.context import Principal, Role
from tenants.ids import new_id

__all__ = [
    "JOB_FILE_KEEP_DAYS",
    "PHOTO_FLOOR_MONTHS",
    "VIDEO_FLOOR_MONTHS",
    "RetentionError",
    "TenantRun",
    "expire_job_files",
    "hold_active",
    "months_before",
    "periods",
    "run_all",
    "run_tenant",
    "set_hold",
    "set_periods",
]

log = structlog.get_logger(__name__)

PHOTO_FLOOR_MONTHS: Final = 24
VIDEO_FLOOR_MONTHS: Final = 12
#: Media of passes older than this many months move to the blob store's cold class (``ECOGATE_BLOB_HOT_MONTHS``).
HOT_MONTHS: Final = 3
#: Objects moved per tenant and run at most (a first run on a large tenant continues the next day).
MAX_MOVES: Final = 20_000
#: Days a finished job's file is kept (``JobSettings.file_keep_days``).
JOB_FILE_KEEP_DAYS: Final = 7
_SHANGHAI: Final = ZoneInfo("Asia/Shanghai")
_RETENTION_USER: Final = uuid.UUID(int=0x5E7E)

# Objects of passes before the cutoff that no pass at or after it (nor a vehicle document) names, and that
# the tenant has not purged yet. Photos: the columns and every snapshot of the sealed event; video: the sealed
# clip and the late clips (ADR 0020).
_PHOTOS = text(
    """
WITH old AS (
    SELECT p.id AS pass_id, s.sha FROM pass_event p
    CROSS JOIN LATERAL (
        SELECT p.scene_sha256 AS sha UNION SELECT p.plate_sha256
        UNION SELECT e->>'sha256' FROM jsonb_array_elements(COALESCE(p.payload->'evidence'->'snapshots', '[]')) e
    ) s
    WHERE p.occurred_at < :cutoff AND s.sha IS NOT NULL
), young AS (
    SELECT s.sha FROM pass_event p
    CROSS JOIN LATERAL (
        SELECT p.scene_sha256 AS sha UNION SELECT p.plate_sha256
        UNION SELECT e->>'sha256' FROM jsonb_array_elements(COALESCE(p.payload->'evidence'->'snapshots', '[]')) e
    ) s
    WHERE p.occurred_at >= :cutoff AND s.sha IS NOT NULL
    UNION SELECT blob_sha256 FROM vehicle_document
)
SELECT DISTINCT ON (old.sha) old.sha, old.pass_id, COALESCE(b.size_bytes, 0) AS size
FROM old LEFT JOIN blob b ON b.sha256 = old.sha
WHERE old.sha NOT IN (SELECT sha FROM young WHERE sha IS NOT NULL)
  AND old.sha NOT IN (SELECT sha256 FROM retention_purge)
ORDER BY old.sha, old.pass_id
"""
)
_VIDEOS = text(
    """
WITH refs AS (
    SELECT p.id AS pass_id, p.occurred_at, p.payload->'evidence'->'clip'->>'sha256' AS sha FROM pass_event p
    UNION ALL
    SELECT c.pass_event_id, p.occurred_at, c.sha256 FROM pass_clip c
    JOIN pass_event p ON p.tenant_id = c.tenant_id AND p.id = c.pass_event_id
)
SELECT DISTINCT ON (r.sha) r.sha, r.pass_id, COALESCE(b.size_bytes, 0) AS size
FROM refs r LEFT JOIN blob b ON b.sha256 = r.sha
WHERE r.sha IS NOT NULL AND r.occurred_at < :cutoff
  AND r.sha NOT IN (SELECT sha FROM refs WHERE occurred_at >= :cutoff AND sha IS NOT NULL)
  AND r.sha NOT IN (SELECT sha256 FROM retention_purge)
ORDER BY r.sha, r.pass_id
"""
)


_NOT_MOVED = " AND x.sha NOT IN (SELECT sha256 FROM retention_move WHERE storage_class = :class)"
# The purge's object queries at the hot cutoff, less what is already in the cold class (constants only).
_MOVE_PHOTOS = text(f"SELECT x.* FROM ({_PHOTOS.text}) x WHERE true{_NOT_MOVED} LIMIT :limit")  # noqa: S608
_MOVE_VIDEOS = text(f"SELECT x.* FROM ({_VIDEOS.text}) x WHERE true{_NOT_MOVED} LIMIT :limit")  # noqa: S608


# Finished jobs of the tenant whose file is past the keep period: expired in place (the digest stays).
_EXPIRE_JOBS = text(
    """
UPDATE background_job SET status = 'expired', updated_at = now()
WHERE status = 'done' AND result_sha256 IS NOT NULL AND finished_at < :cutoff
RETURNING id, result_sha256
"""
)
# The tenant's expired job files no finished job of the tenant still names, with their size.
_EXPIRED_FILES = text(
    """
SELECT DISTINCT j.result_sha256, COALESCE(b.size_bytes, 0) FROM background_job j
LEFT JOIN blob b ON b.tenant_id = j.tenant_id AND b.sha256 = j.result_sha256
WHERE j.status = 'expired' AND j.result_sha256 = ANY(CAST(:shas AS text[]))
  AND j.result_sha256 NOT IN (SELECT result_sha256 FROM background_job WHERE status = 'done'
                              AND result_sha256 IS NOT NULL)
"""
)


class RetentionError(ValueError):
    """A setting below the legal floor (Chinese message for people)."""


@dataclass
class TenantRun:
    """What one tenant's run did."""

    tenant_id: uuid.UUID
    held: bool = False
    photo_cutoff: dt.datetime | None = None
    video_cutoff: dt.datetime | None = None
    photos: int = 0
    videos: int = 0
    bytes_purged: int = 0
    files_deleted: int = 0
    files_shared: int = 0
    digests: list[str] = field(default_factory=list)
    #: Objects moved to the cold storage class past the hot period (``retention_move``), and their bytes.
    hot_cutoff: dt.datetime | None = None
    moved: int = 0
    bytes_moved: int = 0
    #: Finished jobs whose file passed the keep period (now ``expired``), and the files deleted for them.
    jobs_expired: int = 0
    job_files_deleted: int = 0


def months_before(now: dt.datetime, months: int) -> dt.datetime:
    """The same wall-clock moment ``months`` calendar months earlier in 北京时间 (day clamped to the month)."""
    local = now.astimezone(_SHANGHAI)
    index = local.year * 12 + local.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    days = (dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return local.replace(year=year, month=month, day=min(local.day, days)).astimezone(dt.UTC)


def _principal(tenant_id: uuid.UUID) -> Principal:
    return Principal(user_id=_RETENTION_USER, role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="system-retention")


async def periods(session: AsyncSession, tenant_id: uuid.UUID) -> tuple[int, int]:
    """(photo months, video months) of a tenant: its newest setting, or the legal floors."""
    row = (
        await session.execute(
            select(m.RetentionSetting.photo_months, m.RetentionSetting.video_months)
            .where(m.RetentionSetting.tenant_id == tenant_id)
            .order_by(m.RetentionSetting.set_at.desc(), m.RetentionSetting.id.desc())
            .limit(1)
        )
    ).first()
    return (int(row[0]), int(row[1])) if row else (PHOTO_FLOOR_MONTHS, VIDEO_FLOOR_MONTHS)


async def set_periods(
    session: AsyncSession, principal: Principal, tenant_id: uuid.UUID, photo_months: int, video_months: int, reason: str
) -> None:
    """Record new periods (refused below the floors), audited."""
    if photo_months < PHOTO_FLOOR_MONTHS:
        raise RetentionError(f"照片保存期限不得少于 {PHOTO_FLOOR_MONTHS} 个月（HJ 1321-2023）")
    if video_months < VIDEO_FLOOR_MONTHS:
        raise RetentionError(f"视频保存期限不得少于 {VIDEO_FLOOR_MONTHS} 个月（HJ 1321-2023）")
    session.add(
        m.RetentionSetting(
            tenant_id=tenant_id,
            photo_months=photo_months,
            video_months=video_months,
            set_by=principal.login,
            reason=reason[:200],
        )
    )
    detail = {"photo_months": photo_months, "video_months": video_months, "reason": reason}
    audit.record(session, principal, "retention.periods_set", "tenant", tenant_id, detail, tenant_id=tenant_id)


async def hold_active(session: AsyncSession, tenant_id: uuid.UUID) -> bool:
    """Whether the tenant's newest legal-hold row is active."""
    active = await session.scalar(
        select(m.LegalHold.active)
        .where(m.LegalHold.tenant_id == tenant_id)
        .order_by(m.LegalHold.set_at.desc(), m.LegalHold.id.desc())
        .limit(1)
    )
    return bool(active)


async def set_hold(
    session: AsyncSession, principal: Principal, tenant_id: uuid.UUID, active: bool, reason: str
) -> None:
    """Start or lift a legal hold, audited."""
    session.add(m.LegalHold(tenant_id=tenant_id, active=active, reason=reason[:200], set_by=principal.login))
    action = "retention.hold_started" if active else "retention.hold_lifted"
    audit.record(session, principal, action, "tenant", tenant_id, {"reason": reason}, tenant_id=tenant_id)


async def run_tenant(
    database: Database,
    blobs: Blobs,
    tenant_id: uuid.UUID,
    now: dt.datetime,
    *,
    dry_run: bool = False,
    hot_months: int = HOT_MONTHS,
) -> TenantRun:
    """Purge one tenant's expired media, then move media past the hot period to the cold class (module docstring)."""
    result = await _purge_tenant(database, blobs, tenant_id, now, dry_run=dry_run)
    if not result.held:
        await _move_tenant(database, blobs, result, now, hot_months, dry_run=dry_run)
    return result


async def _move_tenant(
    database: Database, blobs: Blobs, result: TenantRun, now: dt.datetime, hot_months: int, *, dry_run: bool
) -> None:
    """Move photos and clips of passes older than the hot period to ``blobs.cold_class`` (bytes, then records).

    The objects are those the purge query would take at the hot cutoff (nothing a younger pass or a vehicle
    document names, nothing purged) and not yet moved to that class; at most ``MAX_MOVES`` per run. The bytes
    move first (idempotent: an object already in the class stays), then each gets a ``retention_move`` row and
    the run one audit entry: a crash in between only repeats a no-op move the next day.
    """
    tenant_id, principal, cold = result.tenant_id, _principal(result.tenant_id), blobs.cold_class
    result.hot_cutoff = months_before(now, hot_months)
    params = {"cutoff": result.hot_cutoff, "class": cold, "limit": MAX_MOVES}
    async with database.session(principal) as session, session.begin():
        plan = [("photo", *row) for row in (await session.execute(_MOVE_PHOTOS, params)).all()]
        plan += [("video", *row) for row in (await session.execute(_MOVE_VIDEOS, params)).all()]
    purged = set(result.digests)  # a dry run's purge plan is not recorded: leave its objects out here
    plan = [item for item in plan if item[1] not in purged]
    if dry_run or not plan:
        result.moved, result.bytes_moved = len(plan), sum(int(size) for *_, size in plan)
        return
    moved: list[tuple[str, str, uuid.UUID | None, int]] = []
    for kind, sha, pass_id, size in plan[:MAX_MOVES]:
        try:
            await asyncio.to_thread(blobs.set_storage_class, sha, cold)
        except FileNotFoundError:
            log.warning("retention.move_missing", tenant_id=str(tenant_id), sha256=sha)
            continue
        moved.append((kind, sha, pass_id, int(size)))
    if not moved:
        return
    result.moved, result.bytes_moved = len(moved), sum(size for *_, size in moved)
    async with database.session(principal) as session, session.begin():
        for kind, sha, pass_id, size in moved:
            session.add(
                m.RetentionMove(
                    id=new_id(),
                    tenant_id=tenant_id,
                    sha256=sha,
                    kind=kind,
                    pass_event_id=pass_id,
                    storage_class=cold,
                    size_bytes=size,
                    cutoff=result.hot_cutoff,
                )
            )
        detail = {
            "objects": result.moved,
            "bytes": result.bytes_moved,
            "storage_class": cold,
            "hot_cutoff": result.hot_cutoff.isoformat(),
        }
        audit.record(session, principal, "retention.moved_cold", "tenant", tenant_id, detail, tenant_id=tenant_id)
    log.info("retention.moved_cold", tenant_id=str(tenant_id), objects=result.moved, storage_class=cold)


async def _purge_tenant(
    database: Database, blobs: Blobs, tenant_id: uuid.UUID, now: dt.datetime, *, dry_run: bool = False
) -> TenantRun:
    """Purge one tenant's expired media (module docstring); records first, bytes after the commit."""
    result = TenantRun(tenant_id)
    principal = _principal(tenant_id)
    async with database.session(principal) as session, session.begin():
        if await hold_active(session, tenant_id):
            result.held = True
            log.info("retention.held", tenant_id=str(tenant_id))
            return result
        photo_months, video_months = await periods(session, tenant_id)
        result.photo_cutoff = months_before(now, max(photo_months, PHOTO_FLOOR_MONTHS))
        result.video_cutoff = months_before(now, max(video_months, VIDEO_FLOOR_MONTHS))
        plan = [
            ("photo", row, result.photo_cutoff, f"照片超过保存期限 {photo_months} 个月")
            for row in (await session.execute(_PHOTOS, {"cutoff": result.photo_cutoff})).all()
        ] + [
            ("video", row, result.video_cutoff, f"视频超过保存期限 {video_months} 个月")
            for row in (await session.execute(_VIDEOS, {"cutoff": result.video_cutoff})).all()
        ]
        seen: set[str] = set()
        for kind, (sha, pass_id, size), cutoff, reason in plan:
            if sha in seen:  # a clip that is also a photo (never in practice): purge once
                continue
            seen.add(sha)
            result.digests.append(sha)
            result.bytes_purged += int(size)
            if kind == "photo":
                result.photos += 1
            else:
                result.videos += 1
            if not dry_run:
                session.add(
                    m.RetentionPurge(
                        id=new_id(),
                        tenant_id=tenant_id,
                        sha256=sha,
                        kind=kind,
                        pass_event_id=pass_id,
                        size_bytes=int(size),
                        cutoff=cutoff,
                        reason=reason,
                    )
                )
        if dry_run or not result.digests:
            return result
        detail = {
            "photos": result.photos,
            "videos": result.videos,
            "bytes": result.bytes_purged,
            "photo_cutoff": result.photo_cutoff.isoformat(),
            "video_cutoff": result.video_cutoff.isoformat(),
        }
        audit.record(session, principal, "retention.purged", "tenant", tenant_id, detail, tenant_id=tenant_id)
    # After the commit: a file goes only when every tenant that stored it has purged it.
    async with database.session(principal) as session, session.begin():
        for sha in result.digests:
            holders = await session.scalar(text("SELECT blob_unpurged_holders(:sha)"), {"sha": sha})
            if holders == 0 and blobs.delete(sha):
                result.files_deleted += 1
            elif holders:
                result.files_shared += 1
    log.info(
        "retention.purged",
        tenant_id=str(tenant_id),
        photos=result.photos,
        videos=result.videos,
        files_deleted=result.files_deleted,
    )
    return result


async def expire_job_files(
    database: Database,
    blobs: Blobs,
    tenant_id: uuid.UUID,
    now: dt.datetime,
    *,
    keep_days: int = JOB_FILE_KEEP_DAYS,
    dry_run: bool = False,
    result: TenantRun | None = None,
) -> TenantRun:
    """Expire the tenant's finished jobs older than ``keep_days`` and delete their files (module docstring).

    Records first (job rows ``expired``, one ``retention_purge`` row per file, one audit entry), the files
    after the commit: a file goes only when ``blob_unpurged_holders`` is 0 (no other tenant stored the bytes).
    """
    result = result if result is not None else TenantRun(tenant_id)
    principal = _principal(tenant_id)
    cutoff = now - dt.timedelta(days=keep_days)
    files: list[str] = []
    async with database.session(principal) as session, session.begin():
        if await hold_active(session, tenant_id):
            result.held = True
            return result
        if dry_run:
            count = select(func.count()).select_from(m.BackgroundJob)
            result.jobs_expired = int(
                await session.scalar(
                    count.where(
                        m.BackgroundJob.status == "done",
                        m.BackgroundJob.result_sha256.is_not(None),
                        m.BackgroundJob.finished_at < cutoff,
                    )
                )
                or 0
            )
            return result
        expired = (await session.execute(_EXPIRE_JOBS, {"cutoff": cutoff})).all()
        if not expired:
            return result
        result.jobs_expired = len(expired)
        shas = sorted({str(sha) for _, sha in expired})
        for sha, size in (await session.execute(_EXPIRED_FILES, {"shas": shas})).all():
            files.append(str(sha))
            await session.execute(
                insert(m.RetentionPurge)
                .values(
                    id=new_id(),
                    tenant_id=tenant_id,
                    sha256=sha,
                    kind="export",
                    pass_event_id=None,
                    size_bytes=int(size),
                    cutoff=cutoff,
                    reason=f"导出文件超过保存期限 {keep_days} 天",
                )
                .on_conflict_do_nothing(index_elements=[m.RetentionPurge.tenant_id, m.RetentionPurge.sha256])
            )
        detail = {"jobs": result.jobs_expired, "files": len(files), "cutoff": cutoff.isoformat()}
        audit.record(
            session, principal, "retention.job_files_expired", "tenant", tenant_id, detail, tenant_id=tenant_id
        )
    async with database.session(principal) as session, session.begin():
        for sha in files:
            holders = await session.scalar(text("SELECT blob_unpurged_holders(:sha)"), {"sha": sha})
            if holders == 0 and await asyncio.to_thread(blobs.delete, sha):
                result.job_files_deleted += 1
    log.info("retention.job_files_expired", tenant_id=str(tenant_id), jobs=result.jobs_expired, files=len(files))
    return result


async def run_all(
    database: Database,
    blobs: Blobs,
    now: dt.datetime,
    *,
    dry_run: bool = False,
    hot_months: int = HOT_MONTHS,
    job_keep_days: int = JOB_FILE_KEEP_DAYS,
) -> list[TenantRun]:
    """Run every tenant; a tenant that fails is logged and the others still run (the error is raised at the end)."""
    actor = Principal(user_id=_RETENTION_USER, role=Role.PLATFORM_ADMIN, login="system-retention")
    runs: list[TenantRun] = []
    failed: list[uuid.UUID] = []
    for tenant_id in await emergency.all_tenants(database, actor):
        try:
            run = await run_tenant(database, blobs, tenant_id, now, dry_run=dry_run, hot_months=hot_months)
            if not run.held:
                await expire_job_files(
                    database, blobs, tenant_id, now, keep_days=job_keep_days, dry_run=dry_run, result=run
                )
            runs.append(run)
        except Exception:
            log.exception("retention.tenant_failed", tenant_id=str(tenant_id))
            failed.append(tenant_id)
    if failed:
        raise RuntimeError(f"{len(failed)} 家企业的保存期限处理失败：{', '.join(map(str, failed))}")
    return runs
