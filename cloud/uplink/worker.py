"""Uplink workers: claim due outbox rows, send them, record every answer, retry, reject to review.

One pass of :meth:`UplinkWorker.run_once`: find the tenants with due rows (``uplink_due_tenants()``,
the only cross-tenant read, ids only), and for each tenant, in one transaction under its RLS scope,
claim up to ``batch`` due rows with ``FOR UPDATE SKIP LOCKED`` (so any number of workers in any
number of processes share the work without sending a row twice at once), send them with bounded
concurrency, and write the outcome of each: delivered; retry later with exponential backoff and
jitter; or rejected — the platform's reason goes to the review queue as a ``check_flag``
(``uplink_rejected``). Each send is an ``uplink_attempt`` row. A crash before commit leaves the rows
pending: they are sent again and the platform's de-duplication on the record serial absorbs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.blobs import BlobStore
from cloud.compliance import chain
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain.common import CHINA_TZ
from cloud.uplink import alarms, downlink, platforms
from cloud.uplink.adapters import (
    HEARTBEAT_DEFAULT_S,
    Outcome,
    PhotoRef,
    PlatformAdapter,
    PlatformConfig,
    SendResult,
    UplinkRecord,
    build_adapter,
    registry,
)
from tenants.context import Principal, Role
from tenants.ids import new_id

log = structlog.get_logger(__name__)

#: Backoff after the n-th failed attempt: base · 2ⁿ⁻¹ seconds, capped, with ±50 % jitter.
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 600.0

# Built from constants only; every value is a bound parameter.
_CLAIM = f"""
SELECT o.id, o.attempts, o.platform_serial, e.occurred_at, e.direction, e.plate, e.plate_colour, e.decision,
       e.cargo_name, e.scene_sha256, e.plate_sha256, e.payload, g.code AS gate_code, l.code AS lane_code,
       v.vin, v.emission_stage, v.fuel_type, v.vehicle_type, v.use_nature, v.register_date, v.fleet_name,
       v.network_status, {registry.CLAIM_COLUMNS}
FROM uplink_outbox o
JOIN pass_event e ON e.tenant_id = o.tenant_id AND e.id = o.id
JOIN lane l ON l.tenant_id = e.tenant_id AND l.id = e.lane_id
JOIN gate g ON g.tenant_id = l.tenant_id AND g.id = l.gate_id
LEFT JOIN LATERAL (
    SELECT vv.* FROM vehicle_version vv
    WHERE vv.tenant_id = e.tenant_id AND vv.vehicle_id = e.vehicle_id
    ORDER BY CASE WHEN vv.created_at <= e.occurred_at THEN vv.version ELSE -vv.version END DESC
    LIMIT 1
) v ON true
WHERE o.tenant_id = :tenant_id AND o.state = 'pending' AND o.next_attempt_at <= now()
ORDER BY o.next_attempt_at, o.occurred_at
LIMIT :batch
FOR UPDATE OF o SKIP LOCKED
"""  # noqa: S608


#: The daily counts of a China date are sent this long after its midnight (late records of the day
#: arriving from agents that were offline get a chance to be counted) [I].
DAILY_GRACE = dt.timedelta(minutes=10)
#: Days back a missing daily report is still queued (a worker down for a few days catches up).
DAILY_CATCH_UP_DAYS = 7

_CLAIM_HEARTBEAT = """
UPDATE uplink_platform SET heartbeat_at = CAST(:now AS timestamptz)
WHERE tenant_id = :t AND enabled
  AND (heartbeat_at IS NULL
       OR heartbeat_at <= CAST(:now AS timestamptz) - make_interval(secs => CAST(:s AS double precision))
       OR heartbeat_at > CAST(:now AS timestamptz))
RETURNING 1
"""

_CLAIM_DAILY = """
SELECT id, record_date, attempts FROM uplink_daily_report
WHERE tenant_id = :t AND state = 'pending' AND next_attempt_at <= :now
ORDER BY record_date
FOR UPDATE SKIP LOCKED
"""

# Every lane of the tenant, with the day's pass records in the ledger (zero rows included).
_DAILY_COUNTS = """
SELECT g.code AS gate, l.code AS lane, count(e.id) AS n
FROM lane l JOIN gate g ON g.tenant_id = l.tenant_id AND g.id = l.gate_id
LEFT JOIN pass_event e ON e.tenant_id = l.tenant_id AND e.lane_id = l.id
     AND e.occurred_at >= (CAST(:day AS date)::timestamp AT TIME ZONE 'Asia/Shanghai')
     AND e.occurred_at < ((CAST(:day AS date) + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
WHERE l.tenant_id = :t
GROUP BY g.code, l.code ORDER BY g.code, l.code
"""

_DAILY_DELIVERED = """
UPDATE uplink_daily_report SET state = 'delivered', delivered_at = :now, attempts = :attempts,
       rows = CAST(:rows AS jsonb), last_code = :code, last_message = :message
WHERE tenant_id = :t AND id = :id
"""

_DAILY_RETRY = """
UPDATE uplink_daily_report SET next_attempt_at = :next, attempts = :attempts,
       rows = CAST(:rows AS jsonb), last_code = :code, last_message = :message
WHERE tenant_id = :t AND id = :id
"""


def backoff_seconds(attempts: int, rnd: random.Random | None = None) -> float:
    """Delay before the next try after ``attempts`` failures (exponential, capped, jittered ±50 %)."""
    base = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))
    return float(base * (0.5 + (rnd or random).random()))


@dataclass
class WorkerStats:
    """What the worker has done since it started."""

    sent: int = 0
    delivered: int = 0
    duplicates: int = 0
    retried: int = 0
    rejected: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class UplinkWorker:
    """Sends due outbox rows of every tenant; run :meth:`run` as a task or :meth:`run_once` in tests."""

    def __init__(
        self,
        database: Database,
        blobs: BlobStore,
        *,
        batch: int = 100,
        concurrency: int = 8,
        idle_s: float = 1.0,
        downlink_every_s: float = 60.0,
        schedule_every_s: float = 5.0,
        alarm_every_s: float = 60.0,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        """Prepare; adapters are made per tenant on first use and kept.

        ``schedule_every_s``: how often heartbeats and daily reports are checked for being due;
        ``alarm_every_s``: how often the alarms are evaluated; ``clock``: the wall clock (tests move it).
        """
        self.database = database
        self.blobs = blobs
        self.batch = batch
        self.concurrency = concurrency
        self.idle_s = idle_s
        self.downlink_every_s = downlink_every_s
        self.schedule_every_s = schedule_every_s
        self.alarm_every_s = alarm_every_s
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._downlink_at = 0.0
        self._schedule_at = 0.0
        self._alarm_at = 0.0
        self.stats = WorkerStats()
        self._adapters: dict[uuid.UUID, tuple[Any, PlatformAdapter]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; sleep ``idle_s`` when nothing was due."""
        log.info("uplink worker started", batch=self.batch, concurrency=self.concurrency)
        try:
            while not stop.is_set():
                try:
                    done = await self.run_once()
                except Exception:
                    log.exception("uplink pass failed")
                    done = 0
                try:
                    await self.run_periodic()
                except Exception:
                    log.exception("uplink periodic work failed")
                if not done:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.idle_s)
        finally:
            await self.close()
            log.info("uplink worker stopped", **self.stats.__dict__)

    async def close(self) -> None:
        """Close every adapter's connections."""
        for _, adapter in self._adapters.values():
            await adapter.close()
        self._adapters.clear()

    async def run_once(self) -> int:
        """One pass over every tenant with due rows; returns the rows sent."""
        async with self.database.system_session("uplink: tenants with due records") as session, session.begin():
            tenants = list(await session.scalars(text("SELECT uplink_due_tenants()")))
        total = 0
        for tenant_id in tenants:
            total += await self.run_tenant(tenant_id)
        return total

    async def run_periodic(self) -> None:
        """What is due by the clock: heartbeats and daily reports, alarms, the downlink poll."""
        now = time.monotonic()
        if now - self._schedule_at >= self.schedule_every_s:
            self._schedule_at = now
            await self.send_heartbeats()
            await self.send_daily_reports()
        if now - self._alarm_at >= self.alarm_every_s:
            self._alarm_at = now
            await self.evaluate_alarms()
        if now - self._downlink_at >= self.downlink_every_s:
            self._downlink_at = now
            await self.poll_downlink()

    async def _platform_tenants(self) -> list[uuid.UUID]:
        async with self.database.system_session("uplink: tenants with a platform") as session, session.begin():
            return list(await session.scalars(text("SELECT uplink_platform_tenants()")))

    async def send_heartbeats(self) -> int:
        """Send the gate heartbeat of every tenant whose interval has passed; returns the heartbeats sent.

        The conditional UPDATE of ``uplink_platform.heartbeat_at`` is the claim: with any number of
        workers, one heartbeat per interval. A failed heartbeat is logged, not repeated: the next one
        is due an interval later (a heartbeat says "alive now"; an old one has no value).
        """
        due: list[tuple[uuid.UUID, PlatformAdapter, list[str]]] = []
        for tenant_id in await self._platform_tenants():
            async with self.database.session(_worker(tenant_id)) as session, session.begin():
                config = await platforms.load(session, tenant_id)
                if config is None:
                    continue
                interval = _heartbeat_interval(config)
                if interval <= 0:
                    continue
                claim = {"t": tenant_id, "s": interval, "now": self.clock()}
                if await session.scalar(text(_CLAIM_HEARTBEAT), claim) is None:
                    continue
                gates = [str(c) for c in await session.scalars(text("SELECT code FROM gate ORDER BY code"))]
            due.append((tenant_id, self._adapter(tenant_id, config), gates))

        async def beat(tenant_id: uuid.UUID, adapter: PlatformAdapter, gates: list[str]) -> None:
            try:
                result = await adapter.heartbeat(gates)
            except Exception:  # an adapter bug must not stop the other tenants' heartbeats
                log.exception("uplink heartbeat error", tenant_id=str(tenant_id))
                return
            if result.delivered:
                log.debug("uplink heartbeat", tenant_id=str(tenant_id), gates=len(gates))
            else:
                log.warning("uplink heartbeat failed", tenant_id=str(tenant_id), message=result.message)

        # Concurrently: one platform that is down must not hold up the others' heartbeats.
        await asyncio.gather(*(beat(*d) for d in due))
        return len(due)

    async def send_daily_reports(self) -> int:
        """Queue and send the daily per-gate counts of profiles that take them (Tianjin); returns days sent.

        After :data:`DAILY_GRACE` past midnight China time, the previous day (and any day of the last
        week that has no report yet) is queued in ``uplink_daily_report``;
        due rows are claimed like outbox rows, counted from the ledger at send time, sent, and kept
        pending with backoff until the platform takes them (REGULATION.md §2.1: 日上报).
        """
        delivered = 0
        for tenant_id in await self._platform_tenants():
            async with self.database.session(_worker(tenant_id)) as session, session.begin():
                config = await platforms.load(session, tenant_id)
                if config is None:
                    continue
                adapter = self._adapter(tenant_id, config)
                send_daily = getattr(adapter, "send_daily_counts", None)
                if send_daily is None:
                    continue
                now = self.clock()
                await _queue_daily(session, tenant_id, now)
                rows = list(await session.execute(text(_CLAIM_DAILY), {"t": tenant_id, "now": now}))
                for row in rows:
                    counts = [
                        (str(c.gate), str(c.lane), int(c.n))
                        for c in await session.execute(text(_DAILY_COUNTS), {"t": tenant_id, "day": row.record_date})
                    ]
                    result: SendResult = await send_daily(row.record_date, counts)
                    attempts = int(row.attempts) + 1
                    params = {
                        "t": tenant_id,
                        "id": row.id,
                        "attempts": attempts,
                        "rows": json.dumps([{"gate": g, "lane": ln, "count": n} for g, ln, n in counts]),
                        "code": (result.platform_code or "")[:32] or None,
                        "message": result.message[:400],
                        "next": now + dt.timedelta(seconds=backoff_seconds(attempts)),
                        "now": now,
                    }
                    if result.delivered:
                        delivered += 1
                        log.info("uplink daily counts delivered", tenant_id=str(tenant_id), day=str(row.record_date))
                        await session.execute(text(_DAILY_DELIVERED), params)
                    else:  # a refusal of the counts is retried too: they come from our ledger, not from input
                        log.warning(
                            "uplink daily counts not taken",
                            tenant_id=str(tenant_id),
                            day=str(row.record_date),
                            outcome=result.outcome.value,
                            message=result.message,
                        )
                        await session.execute(text(_DAILY_RETRY), params)
        return delivered

    async def evaluate_alarms(self) -> int:
        """Evaluate every platform tenant's alarms and persist the transitions; returns the rows written."""
        written = 0
        for tenant_id in await self._platform_tenants():
            async with self.database.session(_worker(tenant_id)) as session, session.begin():
                written += len(await alarms.evaluate(session, tenant_id, self.clock()))
        return written

    async def poll_downlink(self) -> int:
        """Fetch, apply and acknowledge every platform's downlink items; returns the items applied."""
        async with self.database.system_session("uplink: tenants with a platform") as session, session.begin():
            tenants = list(await session.scalars(text("SELECT uplink_platform_tenants()")))
        total = 0
        for tenant_id in tenants:
            actor = downlink.system_principal(tenant_id)
            async with self.database.session(actor) as session, session.begin():
                config = await platforms.load(session, tenant_id)
                tenant = await session.get(m.Tenant, tenant_id)
                if config is None or tenant is None:
                    continue
                adapter = self._adapter(tenant_id, config)
                try:
                    items = await adapter.fetch_downlink()
                except Exception as exc:  # noqa: BLE001 - a platform's downlink failing must not stop the uplink
                    log.warning("downlink fetch failed", tenant_id=str(tenant_id), error=str(exc))
                    continue
                if not items:
                    continue
                result = await downlink.apply(session, actor, tenant, items)
            try:
                await adapter.ack_downlink(result.applied)  # after commit: a lost ack re-delivers, applied idempotently
            except Exception as exc:  # noqa: BLE001 - logged; the platform sends the items again
                log.warning("downlink ack failed", tenant_id=str(tenant_id), error=str(exc))
            log.info(
                "downlink applied",
                tenant_id=str(tenant_id),
                **{k: v for k, v in result.__dict__.items() if k != "applied"},
            )
            total += len(result.applied)
        return total

    async def run_tenant(self, tenant_id: uuid.UUID) -> int:
        """Claim, send and settle one batch of the tenant's due rows (one transaction)."""
        async with self.database.session(_worker(tenant_id)) as session, session.begin():
            config = await platforms.load(session, tenant_id)
            if config is None:
                return 0
            adapter = self._adapter(tenant_id, config)
            rows = list(await session.execute(text(_CLAIM), {"tenant_id": tenant_id, "batch": self.batch}))
            if not rows:
                return 0
            gate = asyncio.Semaphore(self.concurrency)

            async def send(row: Any) -> tuple[Any, SendResult, int]:
                async with gate:
                    started = time.perf_counter()
                    result = await adapter.send(_record(row), self._photo)
                    return row, result, int((time.perf_counter() - started) * 1000)

            results = await asyncio.gather(*(send(r) for r in rows))
            for row, result, duration_ms in results:
                await self._settle(session, tenant_id, row, result, duration_ms)
        return len(rows)

    def _adapter(self, tenant_id: uuid.UUID, config: Any) -> PlatformAdapter:
        held = self._adapters.get(tenant_id)
        if held is not None and held[0] == config:
            return held[1]
        adapter = build_adapter(config)
        self._adapters[tenant_id] = (config, adapter)
        return adapter

    async def _photo(self, sha256: str) -> bytes | None:
        if not self.blobs.has(sha256):
            return None
        return await asyncio.to_thread(self.blobs.get, sha256)

    async def _settle(
        self, session: AsyncSession, tenant_id: uuid.UUID, row: Any, result: SendResult, duration_ms: int
    ) -> None:
        attempts = int(row.attempts) + 1
        self.stats.sent += 1
        self.stats.outcomes[result.outcome.value] = self.stats.outcomes.get(result.outcome.value, 0) + 1
        params: dict[str, Any] = {
            "t": tenant_id,
            "id": row.id,
            "attempts": attempts,
            "code": (result.platform_code or "")[:32] or None,
            "message": result.message[:400],
            "serial": result.platform_serial,
        }
        if result.delivered:
            self.stats.delivered += 1
            self.stats.duplicates += result.outcome is Outcome.DUPLICATE
            state_sql = "state = 'delivered', delivered_at = now()"
        elif result.outcome is Outcome.REJECTED:
            self.stats.rejected += 1
            state_sql = "state = 'rejected'"
            await self._to_review(session, tenant_id, row, result)
        else:
            self.stats.retried += 1
            delay = max(backoff_seconds(attempts), result.retry_after_s or 0.0)
            params["next"] = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
            state_sql = "next_attempt_at = :next"
        await session.execute(
            text(
                f"UPDATE uplink_outbox SET {state_sql}, attempts = :attempts, last_code = :code, "  # noqa: S608 - constant fragments
                "last_message = :message, platform_serial = COALESCE(:serial, platform_serial) "
                "WHERE tenant_id = :t AND id = :id"
            ),
            params,
        )
        session.add(
            m.UplinkAttempt(
                tenant_id=tenant_id,
                outbox_id=row.id,
                outcome=result.outcome.value,
                code=params["code"],
                message=params["message"],
                duration_ms=duration_ms,
            )
        )

    async def _to_review(self, session: AsyncSession, tenant_id: uuid.UUID, row: Any, result: SendResult) -> None:
        """A permanent rejection becomes a review-queue flag carrying the platform's reason verbatim."""
        reason = result.message or "平台拒收"
        inserted = await session.execute(
            pg_insert(m.CheckFlag)
            .values(
                tenant_id=tenant_id,
                id=uuid.uuid4(),
                code="uplink_rejected",
                subject_key=f"uplink:{row.id}:{row.attempts}"[:80],
                pass_event_id=row.id,
                plate=(row.plate or "")[:10] or None,
                occurred_at=row.occurred_at,
                message=f"监管平台拒收：{reason}"[:400],
                detail={"platform_code": result.platform_code, "platform_message": reason},
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "code", "subject_key"])
            .returning(m.CheckFlag.id)
        )
        for (flag_id,) in inserted:
            chain.note_new(session.sync_session, tenant_id, "check_flag", flag_id)
        log.warning("uplink record rejected", tenant_id=str(tenant_id), record=str(row.id), reason=reason)


async def _queue_daily(session: AsyncSession, tenant_id: uuid.UUID, now: dt.datetime) -> None:
    """Queue the daily reports due: the last :data:`DAILY_CATCH_UP_DAYS` China dates up to yesterday.

    Days already queued are left alone (ON CONFLICT); a worker down over a few midnights catches up, and
    a platform set today gets the past week too (its records are back-filled as well).
    """
    today = (now - DAILY_GRACE).astimezone(CHINA_TZ).date()
    days = [today - dt.timedelta(days=n) for n in range(DAILY_CATCH_UP_DAYS, 0, -1)]
    await session.execute(
        pg_insert(m.UplinkDailyReport)
        .values([{"tenant_id": tenant_id, "id": new_id(), "record_date": d, "next_attempt_at": now} for d in days])
        .on_conflict_do_nothing(index_elements=["tenant_id", "record_date"])
    )


def _worker(tenant_id: uuid.UUID) -> Principal:
    return Principal(user_id=uuid.UUID(int=0), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="uplink-worker")


def _heartbeat_interval(config: PlatformConfig) -> int:
    if config.heartbeat_s is not None:
        return config.heartbeat_s
    return HEARTBEAT_DEFAULT_S.get(config.profile, 0)


def _record(row: Any) -> UplinkRecord:
    payload = row.payload or {}
    photos = tuple(
        PhotoRef(sha, role)  # type: ignore[arg-type]
        for sha, role in ((row.scene_sha256, "scene"), (row.plate_sha256, "plate"))
        if sha
    )
    snapshot = payload.get("vehicle") or {}
    return UplinkRecord(
        record_id=row.id,
        kind="pass",
        occurred_at=row.occurred_at,
        direction=row.direction,
        plate=row.plate,
        plate_colour=row.plate_colour or "other",
        gate_code=row.gate_code,
        lane_code=row.lane_code,
        decision=row.decision,
        vin=row.vin,
        emission_stage=snapshot.get("emission_stage") or row.emission_stage,
        fuel_type=snapshot.get("fuel") or row.fuel_type,
        vehicle_type=row.vehicle_type,
        use_nature=row.use_nature,
        register_date=row.register_date,
        fleet_name=row.fleet_name,
        network_status=row.network_status,
        cargo_name=row.cargo_name,
        photos=photos,
        **registry.record_fields(row),  # registry fields, net weight, pre-pass-check serial (adapters/registry.py)
    )
