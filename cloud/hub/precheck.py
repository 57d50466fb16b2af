"""Answer an agent's ``precheck_request`` with the tenant's regulator platform (issues 4 and 8).

The hub asks the tenant's configured adapter (``pre_pass_check``: transportControl ``getCheckVehicle``,
``/transport/check``; REGULATION.md §2.4, §2.5) and answers ``precheck_result``. Each request runs as its
own task (the connection keeps ingesting and acking meanwhile) and is bounded by the shorter of the
agent's budget and :attr:`PrecheckService.max_timeout_s`; the agent decides locally when the answer is
late anyway. The answer is ``unavailable`` — never an error — when the tenant has no enabled platform,
its profile has no pre-pass check, the lane is not the agent's, the plate colour is unknown, or the
platform fails or is too slow.

Adapters are cached per tenant in this process (one HTTP session, one token reused across requests);
the tenant's platform row is read again after :attr:`PrecheckService.config_ttl_s` and a changed
configuration replaces the adapter. Answers are logged (``hub.precheck``) and counted
(:attr:`PrecheckService.counts`).

A platform serial issued with an answer (``/transport/check``'s ``serialNum``) is stored in
``precheck_serial`` (tenant, lane, plate, serial) in its own short transaction, so the uplink later sends
the pass record of that plate and lane under it instead of checking a second time: the platform sees one
check per vehicle (cloud/uplink/adapters/registry.py picks it up; docs/uplink.md "One check per vehicle").
Storing it never delays or changes the answer: a failure is logged and the record then gets its own serial.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Final

import structlog
from sqlalchemy import select

from agent_protocol import messages as msg
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.uplink import platforms
from cloud.uplink.adapters import PlatformAdapter, PlatformConfig, PrePassResult, build_adapter
from hj1321.plates import PlateColour, canonical_plate
from tenants.context import Principal

__all__ = ["PrecheckService", "service_of"]

log = structlog.get_logger(__name__)

#: The longest the hub waits for a platform, whatever budget an agent names.
MAX_TIMEOUT_S: Final = 3.0
#: How long a tenant's platform configuration (and a lane's gate code) is used before it is read again.
CONFIG_TTL_S: Final = 30.0


@dataclass
class _Entry:
    loaded_at: float
    config: PlatformConfig | None
    adapter: PlatformAdapter | None


class PrecheckService:
    """Per-process cache of pre-pass-check adapters, and the answering of requests."""

    def __init__(self, *, max_timeout_s: float = MAX_TIMEOUT_S, config_ttl_s: float = CONFIG_TTL_S) -> None:
        """Empty caches; adapters are built on first use per tenant."""
        self.max_timeout_s = max_timeout_s
        self.config_ttl_s = config_ttl_s
        self.counts: Counter[str] = Counter()
        self._entries: dict[uuid.UUID, _Entry] = {}
        self._gates: dict[tuple[uuid.UUID, str], tuple[float, str | None]] = {}
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}

    async def answer(  # noqa: C901, PLR0911 - one answer per way a check cannot be made
        self, database: Database, principal: Principal, site_id: uuid.UUID, req: msg.PrecheckRequest
    ) -> msg.PrecheckResult:
        """The platform's verdict on ``req`` (``unavailable`` whenever there is none to give)."""
        started = time.monotonic()
        tenant_id = principal.tenant_id
        assert tenant_id is not None

        def result(verdict: str, reason: str = "", serial: str | None = None) -> msg.PrecheckResult:
            elapsed = int((time.monotonic() - started) * 1000)
            self.counts[verdict] += 1
            log.info(
                "hub.precheck",
                tenant_id=str(tenant_id),
                lane_id=req.lane_id,
                verdict=verdict,
                reason=reason[:100],
                elapsed_ms=elapsed,
            )
            return msg.PrecheckResult(
                request_id=req.request_id,
                verdict=verdict,  # type: ignore[arg-type]
                reason=reason[:500],
                platform_serial=serial[:64] if serial else None,
                elapsed_ms=elapsed,
            )

        colour = _colour(req.plate_colour)
        if colour is None:
            return result("unavailable", "车牌颜色未知，未向监管平台核验")
        try:
            gate_code = await self._gate_code(database, principal, site_id, req.lane_id)
            adapter = await self._adapter(database, principal, tenant_id)
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not close the agent's connection
            log.warning("hub.precheck_lookup_failed", error=type(exc).__name__)
            return result("unavailable", "云端暂时无法查询监管平台配置")
        if gate_code is None:
            return result("unavailable", "车道不属于本代理所属厂区")
        if adapter is None:
            return result("unavailable", "本企业未配置监管平台")
        # Answer a little before the agent gives up, so its ledger gets the reason rather than a bare timeout.
        timeout = max(0.05, min(self.max_timeout_s, req.budget_ms / 1000 * 0.8))
        try:
            answer: PrePassResult | None = await asyncio.wait_for(
                adapter.pre_pass_check(req.plate, colour, gate_code), timeout
            )
        except TimeoutError:
            self.counts["platform_timeout"] += 1
            return result("unavailable", "监管平台核验超时")
        except Exception as exc:  # noqa: BLE001 - any platform failure: the agent decides locally
            self.counts["platform_error"] += 1
            return result("unavailable", f"监管平台核验失败：{type(exc).__name__} {exc}".strip()[:200])
        if answer is None:
            return result("unavailable", f"监管平台协议 {adapter.profile} 无预检接口")
        if answer.platform_serial:
            await self._remember(database, principal, req, answer, adapter.profile)
        if answer.allowed:
            return result("allow", answer.reason, answer.platform_serial)
        return result("refuse", answer.reason or "监管平台不允许该车辆通行", answer.platform_serial)

    async def _remember(
        self, database: Database, principal: Principal, req: msg.PrecheckRequest, answer: PrePassResult, profile: str
    ) -> None:
        """Keep the serial the platform issued for this plate and lane (never fails the answer)."""
        assert principal.tenant_id is not None
        assert answer.platform_serial is not None
        try:
            async with database.session(principal) as session, session.begin():
                session.add(
                    m.PrecheckSerial(
                        tenant_id=principal.tenant_id,
                        lane_id=uuid.UUID(req.lane_id),
                        plate=canonical_plate(req.plate)[:10],
                        platform_serial=answer.platform_serial[:64],
                        allowed=answer.allowed,
                        profile=profile[:32],
                    )
                )
            self.counts["serial_stored"] += 1
        except Exception as exc:  # noqa: BLE001 - the gate's answer matters more than the serial
            log.warning("hub.precheck_serial_not_stored", error=type(exc).__name__)

    async def close(self) -> None:
        """Close every cached adapter."""
        entries, self._entries = self._entries, {}
        for entry in entries.values():
            if entry.adapter is not None:
                with contextlib.suppress(Exception):
                    await entry.adapter.close()

    # ------------------------------------------------------------------ caches

    async def _gate_code(
        self, database: Database, principal: Principal, site_id: uuid.UUID, lane_id: str
    ) -> str | None:
        assert principal.tenant_id is not None
        key = (principal.tenant_id, lane_id)
        cached = self._gates.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.config_ttl_s:
            return cached[1]
        try:
            lane_uuid = uuid.UUID(lane_id)
        except ValueError:
            return None
        async with database.session(principal) as session, session.begin():
            code = await session.scalar(
                select(m.Gate.code)
                .join(m.Lane, m.Lane.gate_id == m.Gate.id)
                .where(m.Lane.id == lane_uuid, m.Gate.site_id == site_id)
            )
        if len(self._gates) > 10_000:
            self._gates.clear()
        self._gates[key] = (time.monotonic(), code)
        return code

    async def _adapter(self, database: Database, principal: Principal, tenant_id: uuid.UUID) -> PlatformAdapter | None:
        entry = self._entries.get(tenant_id)
        if entry is not None and time.monotonic() - entry.loaded_at < self.config_ttl_s:
            return entry.adapter
        lock = self._locks.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            entry = self._entries.get(tenant_id)
            if entry is not None and time.monotonic() - entry.loaded_at < self.config_ttl_s:
                return entry.adapter
            async with database.session(principal) as session, session.begin():
                config = await platforms.load_usable(session, tenant_id)
            if entry is not None and entry.config == config:
                entry.loaded_at = time.monotonic()  # unchanged: keep the adapter (and its token)
                return entry.adapter
            if entry is not None and entry.adapter is not None:
                with contextlib.suppress(Exception):
                    await entry.adapter.close()
            adapter = build_adapter(config) if config is not None else None
            self._entries[tenant_id] = _Entry(time.monotonic(), config, adapter)
            log.info("hub.precheck_adapter", tenant_id=str(tenant_id), profile=config.profile if config else None)
            return adapter


def _colour(value: str | None) -> str | None:
    """The canonical plate colour, or None when absent or unknown."""
    if not value:
        return None
    try:
        return PlateColour(value).value
    except ValueError:
        return None


def service_of(state: object) -> PrecheckService:
    """The application's :class:`PrecheckService` (made on first use, kept on ``app.state``)."""
    service = getattr(state, "hub_prechecks", None)
    if not isinstance(service, PrecheckService):
        service = PrecheckService()
        setattr(state, "hub_prechecks", service)  # noqa: B010 - litestar State takes attributes
    return service
