"""Uplink workers: claim due outbox rows with a lease, send them outside any transaction, settle each answer.

One pass of :meth:`UplinkWorker.run_once`: find the tenants with due rows (``uplink_due_tenants()``,
the only cross-tenant read, ids only), and for each tenant: **claim** up to ``batch`` due rows in one
short transaction (``FOR UPDATE SKIP LOCKED``, then ``claimed_by`` = a fresh claim id and ``lease_until``
= now + :data:`LEASE_S`; commit), **send** them with bounded concurrency while no transaction is open
(the lease is renewed while sends last), and **settle** each answer as soon as it is known in a short
transaction of its own (answers ready at the same moment share one): the state says what the platform
holds (cloud/uplink/states.py) — record and photos held; record held with a photo pending or refused
(photos retried per the family's rule, :data:`PHOTO_RETRY`); retry later with exponential backoff and
jitter; or record refused — the platform's reason goes to the review queue as a ``check_flag``
(``uplink_rejected``). Each send is an ``uplink_attempt`` row, except a delivery on the first send, whose
answer the outbox row keeps (docs/adr/0042). A worker that dies keeps its claim only
until the lease expires; then any worker claims the rows again and the platform's de-duplication on
the record serial absorbs the re-send (docs/adr/0009, docs/adr/0027).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import structlog
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from agent_protocol.backoff import attempt_delay
from cloud import metrics
from cloud.blobs import Blobs
from cloud.compliance import checks
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
from cloud.uplink.states import DUE, HELD, UplinkState, sql_list
from tenants.context import Principal, Role
from tenants.ids import new_id

log = structlog.get_logger(__name__)

#: Backoff after the n-th failed attempt: base · 2ⁿ⁻¹ seconds, capped, with ±50 % jitter.
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 600.0

#: A claim holds its rows this long; it is renewed every third of it while the sends last, so only a
#: worker that stopped (killed, hung, cut from the database) loses its rows to the others.
LEASE_S = 30.0
#: A settle waits this long after the first answer so that answers arriving meanwhile share its statement
#: (fewer, still short, transactions when answers trickle in one by one) — or until :data:`SETTLE_MAX`
#: answers are waiting. Every transaction costs five round trips to PostgreSQL (pool ping, BEGIN, the
#: tenant binding, the statement, COMMIT; ~1–1.5 ms of the worker's CPU in SQLAlchemy and asyncpg): fewer of them
#: is most of what the worker can save per record. 0.5 s / 200 instead of 0.2 s / 100: on a loaded machine the
#: worker and PostgreSQL spent 8–28 % less CPU per record (bench/uplink.py, issue 20, session 7).
SETTLE_GATHER_S = 0.5
SETTLE_MAX = 200
#: While claims come back full, the tenants that filled them are claimed again without the due-tenants query
#: (one transaction less per batch), for at most this long before the query runs again.
BUSY_TENANTS_S = 1.0
#: Photo refusals per family (REGULATION.md §2.4: transportControl clients retry a photo up to 4× with
#: 500 ms gaps): retries after the first refusal and the gap; other families: 4 with the outbox backoff.
PHOTO_RETRY: dict[str, tuple[int, float | None]] = {"transport_control": (4, 0.5)}
PHOTO_RETRY_DEFAULT: tuple[int, float | None] = (4, None)

# Built from constants only; every value is a bound parameter.
_CLAIM = f"""
WITH due AS MATERIALIZED (  -- materialized: a semi-join could rescan it and claim more than :batch
    SELECT d.id FROM uplink_outbox d
    WHERE d.tenant_id = :tenant_id AND d.state IN {sql_list(DUE)} AND d.next_attempt_at <= now()
      AND (d.lease_until IS NULL OR d.lease_until < now())
    ORDER BY d.next_attempt_at, d.occurred_at
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
), claimed AS (
    -- By primary key from an array (an InitPlan evaluated once), not a join with the CTE: with stale
    -- statistics the planner nested-looped the whole outbox against the CTE (O(outbox × batch): 335 ms
    -- for 200 of 2,000 rows, seconds at 20,000 — the long claim transactions of the issue 20 bench).
    UPDATE uplink_outbox c
    SET claimed_by = :claim, lease_until = now() + make_interval(secs => CAST(:lease_s AS double precision))
    WHERE c.tenant_id = :tenant_id AND c.id = ANY(ARRAY(SELECT id FROM due))
    RETURNING c.tenant_id, c.id, c.attempts, c.photo_attempts, c.state, c.platform_serial
)
SELECT o.id, o.attempts, o.photo_attempts, o.state, o.platform_serial,
       e.occurred_at, e.direction, e.plate, e.plate_colour, e.decision,
       e.cargo_name, e.scene_sha256, e.plate_sha256, g.code AS gate_code, l.code AS lane_code,
       -- Only the three values of the agent's payload a record uses, as text: no JSON to decode per row.
       e.payload->'vehicle'->>'emission_stage' AS snapshot_stage, e.payload->'vehicle'->>'fuel' AS snapshot_fuel,
       e.payload->'weighing'->>'net_kg' AS payload_net_kg,
       v.vin, v.emission_stage, v.fuel_type, v.vehicle_type, v.use_nature, v.register_date, v.fleet_name,
       v.network_status, {registry.CLAIM_COLUMNS}
FROM claimed o
JOIN pass_event e ON e.tenant_id = o.tenant_id AND e.id = o.id
JOIN lane l ON l.tenant_id = e.tenant_id AND l.id = e.lane_id
JOIN gate g ON g.tenant_id = l.tenant_id AND g.id = l.gate_id
-- The vehicle version in force at the pass time, resolved by the ledger when it stored the pass (ADR 0024).
LEFT JOIN vehicle_version v ON v.tenant_id = e.tenant_id AND v.id = e.vehicle_version_id
"""  # noqa: S608

_RENEW = """
UPDATE uplink_outbox SET lease_until = now() + make_interval(secs => CAST(:lease_s AS double precision))
WHERE tenant_id = :t AND claimed_by = :claim
"""

# Settle answers: one statement for any number of rows (outbox states of the rows this claim still holds,
# and an attempt row per answer), so a settle transaction is one round trip besides its begin and commit.
# A delivery on the record's first send (``first``) has no attempt row: the outbox row keeps its answer
# (``first_*``, docs/adr/0042) — unless the claim no longer holds the row (lease lost): then the answer is
# an attempt row like any other, and the row is left to the claim that holds it.
_SETTLE = """
WITH x AS (
    SELECT * FROM json_to_recordset(CAST(:answers AS json)) AS x(
        id uuid, state text, outcome text, message text, duration_ms int, held boolean, first boolean,
        photo_inc int, next timestamptz, code text, serial text, attempt_id uuid)
), settled AS (
    UPDATE uplink_outbox o
    SET state = x.state, attempts = o.attempts + 1, photo_attempts = o.photo_attempts + COALESCE(x.photo_inc, 0),
        next_attempt_at = COALESCE(x.next, 'infinity'), last_code = x.code, last_message = x.message,
        platform_serial = COALESCE(x.serial, o.platform_serial),
        delivered_at = CASE WHEN x.held THEN COALESCE(o.delivered_at, now()) ELSE o.delivered_at END,
        claimed_by = NULL, lease_until = NULL,
        first_answered_at = CASE WHEN x.first THEN now() ELSE o.first_answered_at END,
        first_outcome = CASE WHEN x.first THEN x.outcome ELSE o.first_outcome END,
        first_code = CASE WHEN x.first THEN x.code ELSE o.first_code END,
        first_message = CASE WHEN x.first THEN x.message ELSE o.first_message END,
        first_duration_ms = CASE WHEN x.first THEN x.duration_ms ELSE o.first_duration_ms END
    FROM x
    -- By primary key from an array, as the claim (a seq scan on ``claimed_by`` joined to ``x`` was the
    -- planner's choice with a fresh outbox's statistics: 17 ms for 200 rows of 10,000).
    WHERE o.tenant_id = :t AND o.id = ANY(ARRAY(SELECT id FROM x)) AND o.id = x.id AND o.claimed_by = :claim
    RETURNING o.id
), logged AS (
    -- A first delivery whose lease was lost has no id from the worker (rare): a random one.
    INSERT INTO uplink_attempt (tenant_id, id, outbox_id, outcome, code, message, duration_ms)
    SELECT :t, COALESCE(x.attempt_id, gen_random_uuid()), x.id, x.outcome, x.code, x.message, x.duration_ms FROM x
    WHERE NOT x.first OR x.id NOT IN (SELECT id FROM settled)
)
SELECT id FROM settled
"""


class _Answer(msgspec.Struct, omit_defaults=True):
    """One answer to settle: a row of ``_SETTLE``'s ``x`` (JSON, one parameter for the whole settle: encoding
    twelve arrays per settle cost the worker more than the rest of its settle work, issue 20 session 8)."""

    id: uuid.UUID
    state: str
    outcome: str
    message: str
    duration_ms: int
    held: bool
    first: bool  # delivered on the record's first send: the outbox row keeps the answer, no attempt row
    photo_inc: int = 0
    next: dt.datetime | None = None
    code: str | None = None
    serial: str | None = None
    attempt_id: uuid.UUID | None = None  # the attempt row's id (every answer but a first delivery)


_ANSWERS = msgspec.json.Encoder()


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

# The claim moves next_attempt_at past the send (a lease): other workers skip the row until then, and a
# worker that dies leaves it due again once the lease has passed. The send happens after the commit.
_CLAIM_DAILY = """
UPDATE uplink_daily_report
SET next_attempt_at = CAST(:now AS timestamptz) + make_interval(secs => CAST(:lease_s AS double precision))
WHERE tenant_id = :t AND id IN (
    SELECT id FROM uplink_daily_report
    WHERE tenant_id = :t AND state = 'pending' AND next_attempt_at <= :now
    ORDER BY record_date
    FOR UPDATE SKIP LOCKED
)
RETURNING id, record_date, attempts
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
    """Delay before the next try after ``attempts`` failures: the shared backoff (agent_protocol/backoff.py),
    exponential, capped, equal jitter (between half the cap and the cap)."""
    return attempt_delay(attempts, initial_s=BACKOFF_BASE_S, max_s=BACKOFF_CAP_S, jitter=0.5, rng=rnd)


def retry_delay(attempts: int, result: SendResult) -> float:
    """The one place a record's retry delay is decided: backoff after ``attempts`` failures, or the
    platform's ``Retry-After`` when longer."""
    return max(backoff_seconds(attempts), result.retry_after_s or 0.0)


@dataclass
class WorkerStats:
    """What the worker has done since it started."""

    sent: int = 0
    delivered: int = 0
    duplicates: int = 0
    retried: int = 0
    rejected: int = 0
    photo_refused: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class UplinkWorker:
    """Sends due outbox rows of every tenant; run :meth:`run` as a task or :meth:`run_once` in tests."""

    def __init__(
        self,
        database: Database,
        blobs: Blobs,
        *,
        batch: int = 100,
        concurrency: int = 8,
        idle_s: float = 1.0,
        downlink_every_s: float = 60.0,
        schedule_every_s: float = 5.0,
        alarm_every_s: float = 60.0,
        lease_s: float | None = None,
        pipelines: int = 2,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        """Prepare; adapters are made per tenant on first use and kept.

        ``schedule_every_s``: how often heartbeats and daily reports are checked for being due;
        ``alarm_every_s``: how often the alarms are evaluated; ``lease_s``: how long a claim holds its rows
        without renewal (default :data:`LEASE_S`); ``pipelines``: claim-send-settle loops sharing
        ``concurrency`` in :meth:`run`; ``clock``: the wall clock (tests move it).
        """
        self.database = database
        self.blobs = blobs
        self.batch = batch
        self.concurrency = concurrency
        self.idle_s = idle_s
        self.downlink_every_s = downlink_every_s
        self.schedule_every_s = schedule_every_s
        self.alarm_every_s = alarm_every_s
        self.lease_s = LEASE_S if lease_s is None else lease_s
        self.pipelines = pipelines
        self._gate = asyncio.Semaphore(concurrency)  # every pipeline's sends together
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._downlink_at = 0.0
        self._schedule_at = 0.0
        self._alarm_at = 0.0
        self.stats = WorkerStats()
        self._adapters: dict[uuid.UUID, tuple[Any, PlatformAdapter]] = {}
        self._busy: list[uuid.UUID] = []  # tenants whose last claim was a full batch
        self._busy_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; sleep ``idle_s`` when nothing was due.

        ``pipelines`` claim-send-settle loops share the worker's ``concurrency``: while one drains the
        tail of its batch, the other's batch keeps the sends in flight (the periodic work runs in one).
        """
        log.info("uplink worker started", batch=self.batch, concurrency=self.concurrency, pipelines=self.pipelines)
        try:
            await asyncio.gather(*(self._loop(stop, periodic=i == 0) for i in range(self.pipelines)))
        finally:
            await self.close()
            log.info("uplink worker stopped", **self.stats.__dict__)

    async def _loop(self, stop: asyncio.Event, *, periodic: bool) -> None:
        while not stop.is_set():
            try:
                done = await self.run_once(busy_ok=True)
            except Exception:
                log.exception("uplink pass failed")
                done = 0
            if periodic:
                try:
                    await self.run_periodic()
                except Exception:
                    log.exception("uplink periodic work failed")
            if not done:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.idle_s)

    async def close(self) -> None:
        """Close every adapter's connections."""
        for _, adapter in self._adapters.values():
            await adapter.close()
        self._adapters.clear()

    async def run_once(self, *, busy_ok: bool = False) -> int:
        """One pass over every tenant with due rows; returns the rows sent.

        ``busy_ok`` (the loops of :meth:`run`): while the last pass claimed full batches, the tenants that
        filled them are worked again without asking ``uplink_due_tenants()`` (for at most
        :data:`BUSY_TENANTS_S`, so a tenant that became due meanwhile waits no longer than an idle worker).
        """
        now = time.monotonic()
        if busy_ok and self._busy and now - self._busy_at < BUSY_TENANTS_S:
            tenants = self._busy
        else:
            async with self.database.system_session("uplink: tenants with due records") as session, session.begin():
                tenants = list(await session.scalars(text("SELECT uplink_due_tenants()")))
            self._busy_at = now
        total, busy = 0, []
        for tenant_id in tenants:
            claimed = await self.run_tenant(tenant_id)
            total += claimed
            if claimed >= self.batch:
                busy.append(tenant_id)
        self._busy = busy
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
                config = await platforms.load_usable(session, tenant_id)
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
            claimed: list[tuple[Any, list[tuple[str, str, int]]]] = []
            async with self.database.session(_worker(tenant_id)) as session, session.begin():
                config = await platforms.load_usable(session, tenant_id)
                if config is None:
                    continue
                adapter = self._adapter(tenant_id, config)
                send_daily = getattr(adapter, "send_daily_counts", None)
                if send_daily is None:
                    continue
                now = self.clock()
                await _queue_daily(session, tenant_id, now)
                claim = {"t": tenant_id, "now": now, "lease_s": self.lease_s}
                for row in list(await session.execute(text(_CLAIM_DAILY), claim)):
                    day = {"t": tenant_id, "day": row.record_date}
                    counts = [
                        (str(c.gate), str(c.lane), int(c.n)) for c in await session.execute(text(_DAILY_COUNTS), day)
                    ]
                    claimed.append((row, counts))
            for row, counts in claimed:  # sent with no transaction open; each answer settled in its own
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
                else:  # a refusal of the counts is retried too: they come from our ledger, not from input
                    log.warning(
                        "uplink daily counts not taken",
                        tenant_id=str(tenant_id),
                        day=str(row.record_date),
                        outcome=result.outcome.value,
                        message=result.message,
                    )
                async with self.database.session(_worker(tenant_id)) as session, session.begin():
                    await session.execute(text(_DAILY_DELIVERED if result.delivered else _DAILY_RETRY), params)
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
                config = await platforms.load_usable(session, tenant_id)
            if config is None:
                continue
            adapter = self._adapter(tenant_id, config)
            try:  # no transaction is open while the platform answers
                items = await adapter.fetch_downlink()
            except Exception as exc:  # noqa: BLE001 - a platform's downlink failing must not stop the uplink
                log.warning("downlink fetch failed", tenant_id=str(tenant_id), error=str(exc))
                continue
            if not items:
                continue
            async with self.database.session(actor) as session, session.begin():
                tenant = await session.get(m.Tenant, tenant_id)
                if tenant is None:
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
        """Claim one batch of the tenant's due rows, send it outside any transaction, settle each answer.

        Returns the rows claimed. Transactions: one for the claim, one per settle (answers ready at the
        same moment share it), one per lease renewal — none is open while a request is on the wire.
        """
        claim = uuid.uuid4()
        params = {"tenant_id": tenant_id, "batch": self.batch, "claim": claim, "lease_s": self.lease_s}
        # The platform's settings and the claim share one short transaction (one begin/commit per batch).
        async with self.database.session(_worker(tenant_id)) as session, session.begin():
            config = await platforms.load_usable(session, tenant_id)
            rows = [] if config is None else list(await session.execute(text(_CLAIM), params))
        if config is None or not rows:
            return 0
        adapter = self._adapter(tenant_id, config)
        gate = self._gate
        answers: asyncio.Queue[tuple[Any, SendResult, int] | None] = asyncio.Queue()
        full = asyncio.Event()  # SETTLE_MAX answers wait (or the sends are over): settle now
        over = asyncio.Event()  # every send has answered
        counted, timed = _metric_children(config.profile)
        queue = iter(rows)
        # Derive a plate type missing from the registry only for a family that sends one.
        derive = "plate_type" in getattr(adapter, "REGISTRY_FIELDS", {"": "plate_type"}).values()

        async def sender() -> None:
            # ``concurrency`` senders take the rows in turn (not one task per row: a task, its scheduling and
            # its wait on the gate cost more than the rest of the worker's own work on a record).
            for row in queue:
                async with gate:
                    started = time.perf_counter()
                    try:
                        result = await adapter.send(_record(row, derive), self._photo)
                    except Exception as exc:  # an adapter bug: the record is not known to be held, retry it
                        log.exception("uplink adapter error", tenant_id=str(tenant_id), record=str(row.id))
                        result = SendResult(Outcome.RETRY, f"内部错误：{type(exc).__name__}")
                elapsed = time.perf_counter() - started
                counted[result.outcome].inc()
                timed.observe(elapsed)
                answers.put_nowait((row, result, int(elapsed * 1000)))
                if answers.qsize() >= SETTLE_MAX:
                    full.set()

        async def settle_all() -> None:
            finished = False
            while not finished:
                ready = await _next_answers(answers, full, over)
                finished = None in ready
                done = [r for r in ready if r is not None]
                if done:
                    await self._settle(tenant_id, config.profile, claim, done)

        settler = asyncio.create_task(settle_all())
        renewer = asyncio.create_task(self._renew(tenant_id, claim))
        try:
            await asyncio.gather(*(sender() for _ in range(min(self.concurrency, len(rows)))))
        finally:
            answers.put_nowait(None)
            over.set()
            full.set()
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        await settler
        return len(rows)

    async def _renew(self, tenant_id: uuid.UUID, claim: uuid.UUID) -> None:
        """Extend the lease of the claim's unsettled rows every third of :attr:`lease_s` (short transactions)."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                async with self.database.session(_worker(tenant_id)) as session, session.begin():
                    await session.execute(text(_RENEW), {"t": tenant_id, "claim": claim, "lease_s": self.lease_s})
            except Exception:  # a missed renewal only risks a duplicate send, never a loss
                log.warning("uplink lease renewal failed", tenant_id=str(tenant_id), exc_info=True)

    def _adapter(self, tenant_id: uuid.UUID, config: Any) -> PlatformAdapter:
        held = self._adapters.get(tenant_id)
        if held is not None and held[0] == config:
            return held[1]
        adapter = build_adapter(config)
        self._adapters[tenant_id] = (config, adapter)
        return adapter

    async def _photo(self, sha256: str) -> bytes | None:
        try:  # off the event loop: with an S3 bucket a read is an HTTP request (issue 20)
            return await asyncio.to_thread(self.blobs.get, sha256)
        except FileNotFoundError:
            return None

    def _next_state(self, profile: str, row: Any, result: SendResult) -> tuple[UplinkState, int, dt.datetime | None]:
        """The row's state after ``result``, the photo retries it used, and when it is due again (None: never)."""
        if result.delivered:
            return UplinkState.DELIVERED, 0, None
        attempts = int(row.attempts) + 1
        was_held = row.state in HELD
        now = dt.datetime.now(dt.UTC)
        if result.outcome is Outcome.PHOTO_REFUSED or (was_held and result.outcome is Outcome.REJECTED):
            limit, gap = PHOTO_RETRY.get(profile, PHOTO_RETRY_DEFAULT)
            photo_attempts = int(row.photo_attempts) + 1
            if photo_attempts > limit:  # the family's retries are spent: the record stays held without the photo
                return UplinkState.PHOTO_REFUSED, 1, None
            delay = gap if gap is not None else retry_delay(photo_attempts, result)
            return UplinkState.PHOTO_REFUSED, 1, now + dt.timedelta(seconds=delay)
        if result.outcome is Outcome.REJECTED:
            return UplinkState.REJECTED, 0, None
        # RETRY or PHOTO_PENDING: try again later; a record the platform holds stays held.
        if result.outcome is Outcome.PHOTO_PENDING:
            state = UplinkState.PHOTO_PENDING
        else:
            state = UplinkState(row.state) if was_held else UplinkState.PENDING
        return state, 0, now + dt.timedelta(seconds=retry_delay(attempts, result))

    async def _settle(
        self, tenant_id: uuid.UUID, profile: str, claim: uuid.UUID, done: list[tuple[Any, SendResult, int]]
    ) -> None:
        """Write the answers of ``done`` in one short transaction: states, attempt rows (none for a delivery on
        the first send: the outbox row keeps that answer), review flags."""
        answers = []
        for row, result, duration_ms in done:
            state, photo_inc, due = self._next_state(profile, row, result)
            first = result.delivered and not row.attempts
            answers.append(
                _Answer(
                    row.id,
                    state.value,
                    result.outcome.value,
                    result.message[:400],
                    duration_ms,
                    state in HELD,
                    first,
                    photo_inc,
                    due,
                    (result.platform_code or "")[:32] or None,
                    result.platform_serial,
                    None if first else new_id(),
                )
            )
            self._count(state, result)
        params = {"t": tenant_id, "claim": claim, "answers": _ANSWERS.encode(answers).decode()}
        refused = [d for d in done if d[1].outcome is Outcome.REJECTED and d[0].state not in HELD]
        async with self.database.session(_worker(tenant_id)) as session, session.begin():
            settled = set(await session.scalars(text(_SETTLE), params))
            for row, result, _ in refused:  # rare: the review flags in the same short transaction
                if row.id in settled:
                    await self._to_review(session, tenant_id, row, result)
        if len(settled) < len(done):  # the lease ran out and another worker claimed them: its answer counts
            log.warning("uplink lease lost", tenant_id=str(tenant_id), rows=len(done) - len(settled))

    def _count(self, state: UplinkState, result: SendResult) -> None:
        self.stats.sent += 1
        self.stats.outcomes[result.outcome.value] = self.stats.outcomes.get(result.outcome.value, 0) + 1
        if result.delivered:
            self.stats.delivered += 1
            self.stats.duplicates += result.outcome is Outcome.DUPLICATE
        elif state is UplinkState.REJECTED:
            self.stats.rejected += 1
        elif state is UplinkState.PHOTO_REFUSED:
            self.stats.photo_refused += 1
        else:
            self.stats.retried += 1

    async def _to_review(self, session: AsyncSession, tenant_id: uuid.UUID, row: Any, result: SendResult) -> None:
        """A permanent rejection becomes a review-queue flag carrying the platform's reason verbatim."""
        reason = result.message or "平台拒收"
        # Through the flags' one writer (cloud.compliance.checks, ADR 0038): one flag per upload attempt,
        # the pass's plate, time and vehicle, sealed into the cloud chain at commit.
        finding = checks.PassFinding(
            "uplink_rejected",
            f"监管平台拒收：{reason}"[:400],
            {"platform_code": result.platform_code, "platform_message": reason},
            subject_key=f"uplink:{row.id}:{row.attempts}"[:80],
        )
        await checks.open_pass_flags(session, tenant_id, row.id, [finding])
        log.warning("uplink record rejected", tenant_id=str(tenant_id), record=str(row.id), reason=reason)


async def _next_answers(answers: asyncio.Queue[Any], full: asyncio.Event, over: asyncio.Event) -> list[Any]:
    """The answers to settle together: the next one, then those arriving within :data:`SETTLE_GATHER_S`
    (sooner when :data:`SETTLE_MAX` wait or the sends are over; None in the list = the sends are over)."""
    ready = [await answers.get()]
    if ready[0] is not None and SETTLE_GATHER_S > 0 and answers.qsize() + 1 < SETTLE_MAX and not over.is_set():
        full.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(full.wait(), SETTLE_GATHER_S)
    while not answers.empty():
        ready.append(answers.get_nowait())
    return ready


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


class _Counted(dict[Outcome, Any]):
    """A profile's record counters by outcome, each looked up once (``labels()`` is a lock and a hash)."""

    def __init__(self, profile: str) -> None:
        super().__init__()
        self.profile = profile

    def __missing__(self, outcome: Outcome) -> Any:
        child = self[outcome] = metrics.UPLINK_RECORDS.labels(self.profile, outcome.value)
        return child


@functools.cache
def _metric_children(profile: str) -> tuple[_Counted, Any]:
    """The profile's labelled metrics: record counters by outcome and the send-duration histogram."""
    return _Counted(profile), metrics.UPLINK_SEND_SECONDS.labels(profile)


def _worker(tenant_id: uuid.UUID) -> Principal:
    return Principal(user_id=uuid.UUID(int=0), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="uplink-worker")


def _heartbeat_interval(config: PlatformConfig) -> int:
    if config.heartbeat_s is not None:
        return config.heartbeat_s
    return HEARTBEAT_DEFAULT_S.get(config.profile, 0)


def _record(row: Any, derive_plate_type: bool = True) -> UplinkRecord:
    photos = tuple(
        PhotoRef(sha, role)  # type: ignore[arg-type]
        for sha, role in ((row.scene_sha256, "scene"), (row.plate_sha256, "plate"))
        if sha
    )
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
        emission_stage=row.snapshot_stage or row.emission_stage,  # the agent's snapshot first, then the registry
        fuel_type=row.snapshot_fuel or row.fuel_type,
        vehicle_type=row.vehicle_type,
        use_nature=row.use_nature,
        register_date=row.register_date,
        fleet_name=row.fleet_name,
        network_status=row.network_status,
        cargo_name=row.cargo_name,
        photos=photos,
        # registry fields, net weight, pre-pass-check serial (adapters/registry.py)
        **registry.record_fields(row, derive_plate_type=derive_plate_type),
    )
