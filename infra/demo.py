"""``ecogate demo`` (``make demo``): the whole system on embedded defaults; Ctrl-C stops everything.

One process tree, started in this order and stopped in the reverse order (docs/demo.md):

1. the embedded PostgreSQL (or ``DATABASE_URL``), migrations, the seed (a Hubei steel plant with
   two gates and four lanes, its users, a 武汉市 regulator and a platform admin);
2. the cloud (uvicorn, in this process) with the agent hub;
3. the regulator platform simulator (``infra/regsim``) when it is present;
4. the device simulators of the 东门 inbound and outbound lanes on pseudo-terminals (Modbus barrier,
   weighbridge, LED, one set per lane) and the two demo cameras (generated videos of trucks served
   as MJPEG streams: loaded trucks drive in, the same trucks leave empty, so trips get net weights);
5. ONE agent process (``ecogate agent run``), enrolled for the demo site with a one-time code,
   syncing to the cloud through its ``[cloud]`` section, with the guard's booth page on.

Then it prints the URLs and logins and follows the ledger: each pass the cloud stores is printed
(plate, allowed or refused, why), and the moment the first record arrives is reported as
"trucks flowing, records uploading" with the seconds since start. ``--seconds N`` stops after N
seconds (the smoke test); ``--status FILE`` writes the running figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from infra.demo_agent import AgentSetup, BoothSetup, LaneSetup, new_setup, write_config
from infra.demo_video import (
    CAST,
    DWELL_S,
    EXIT_CAST,
    GAP_S,
    SECONDS_PER_VEHICLE,
    DemoTruck,
    MjpegCamera,
    ensure_exit_video,
    ensure_video,
    registry_snapshot,
)

log = structlog.get_logger(__name__)

ROOT = Path(__file__).resolve().parents[1]
#: The lanes the demo agent serves (their cameras are the demo videos): 东门 in and out.
DEMO_LANE = "G1-1"
DEMO_EXIT_LANE = "G1-2"
#: The demo guard's booth PIN (the booth page is on loopback; ``ECOGATE_DEMO_PIN`` overrides it).
DEMO_PIN = os.environ.get("ECOGATE_DEMO_PIN", "246810")
#: 武汉市: the demo declares an orange alert there (the agent's policy runs with it).
DEMO_ALERT_REGION = "4201"

DEMO_PASSWORD = os.environ.get("ECOGATE_DEMO_PASSWORD", "EcoGate@2026")
DEMO_TENANT = {
    "name": "武汉青山示范钢铁有限公司",
    "uscc": "91420100177570439R",
    "industry": "steel",
    "region_code": "420107",
    "grade": "B",
}
LOGINS = {
    "demo-admin": "企业管理员",
    "demo-manager": "环保管理员",
    "demo-guard": "门岗",
    "wuhan-regulator": "武汉市生态环境局（只读）",
    "platform-admin": "平台管理员",
    "demo-installer": "安装人员（/staff/login 登录，服务演示企业）",
}


@dataclass
class DemoSeed:
    """What the seed created (or found)."""

    tenant_id: uuid.UUID
    created: bool


async def seed(settings: object) -> DemoSeed:
    """Create the demo tenant, users, sites, gates and lanes once; later runs find them."""
    from sqlalchemy import select  # noqa: PLC0415

    from cloud.auth.passwords import hash_password  # noqa: PLC0415
    from cloud.db import models as m  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.domain import installers  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415
    from tenants.onboarding import (  # noqa: PLC0415
        AccountSpec,
        TenantSpec,
        add_tenant_user,
        create_staff_account,
        onboard_tenant,
    )

    database = Database.from_settings(settings.database)  # type: ignore[attr-defined]
    try:
        async with database.login_session("demo-admin") as session:
            existing = await session.scalar(select(m.UserAccount).where(m.UserAccount.login == "demo-admin"))
        if existing is not None and existing.tenant_id is not None:
            return DemoSeed(existing.tenant_id, created=False)
        pw = hash_password(DEMO_PASSWORD)
        actor = Principal(user_id=uuid.UUID(int=0), role=Role.PLATFORM_ADMIN, login="demo-seed")
        tenant_id = await onboard_tenant(
            database.session,
            TenantSpec(**DEMO_TENANT, key_vehicle_unit=True),
            AccountSpec("demo-admin", "张工（企业管理员）", pw),
            actor,
        )
        await add_tenant_user(
            database.session, tenant_id, AccountSpec("demo-manager", "李工（环保管理员）", pw), Role.MANAGER, actor
        )
        await add_tenant_user(
            database.session, tenant_id, AccountSpec("demo-guard", "王师傅（门岗）", pw), Role.GUARD, actor
        )
        await create_staff_account(
            database.session, AccountSpec("wuhan-regulator", "武汉市生态环境局", pw), "regulator", "4201"
        )
        await create_staff_account(database.session, AccountSpec("platform-admin", "平台管理员", pw), "platform_admin")
        # An installer granted the demo plant, through the platform admin's service (安装人员 page, ADR 0037).
        await installers.create(database, actor, AccountSpec("demo-installer", "赵工（安装人员）", pw), tenant_id)
        scope = Principal(user_id=uuid.UUID(int=0), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="demo-seed")
        async with database.session(scope) as session, session.begin():
            site = m.Site(tenant_id=tenant_id, name="青山厂区", address="湖北省武汉市青山区工人村路")
            session.add(site)
            await session.flush()
            for code, name in (("G1", "东门（原料入口）"), ("G2", "北门（成品出口）")):
                gate = m.Gate(tenant_id=tenant_id, site_id=site.id, code=code, name=name)
                session.add(gate)
                await session.flush()
                for lane_code, direction, label in (("1", "in", "入口"), ("2", "out", "出口")):
                    session.add(
                        m.Lane(
                            tenant_id=tenant_id,
                            gate_id=gate.id,
                            code=f"{code}-{lane_code}",
                            name=f"{name}{label}",
                            direction=direction,
                        )
                    )
        return DemoSeed(tenant_id, created=True)
    finally:
        await database.dispose()


def demo_vin(index: int) -> str:
    """A well-formed VIN (valid check digit, §3.8) for demo vehicle ``index``."""
    from hj1321.identifiers import vin_check_digit  # noqa: PLC0415

    base = f"LZZ5BLSX0PW{index + 100_001:06d}"
    return base[:8] + vin_check_digit(base) + base[9:]


#: The registry entries of the cast beyond plate, fuel and stage: every HJ 1321 field of the transport ledger
#: (REGULATION.md §1.4.2 (a)), so the exported 进出厂运输车辆台账 and the records sent to the platform carry them
#: (issue 15: VIN, 车辆类型, 注册日期, 品牌型号, 使用性质, 车队, 联网状态 filled in every registered row).
_DEMO_MODELS: dict[tuple[str | None, str | None], tuple[str, str, str, str]] = {
    # (fuel, stage): brand and model, engine model, engine maker, 随车清单编号 prefix
    ("B", "6"): ("解放牌CA4250P66K24T1E6", "CA6DM3-46E65", "一汽解放汽车有限公司无锡柴油机厂", "CNCAG6"),
    ("B", "5"): ("东风牌DFH4250A", "DCI11-450-51", "东风商用车有限公司", "CNDFG5"),
    ("B", "4"): ("陕汽牌SX4256DR384", "WP12.375E40", "潍柴动力股份有限公司", "CNSXG4"),
    ("E", "6"): ("重汽牌ZZ4257V384HF1LB", "WP13NG460E61", "潍柴动力股份有限公司", "CNZZG6"),
}


def demo_vehicle_data(index: int, truck: Any) -> dict[str, Any]:
    """The full ledger entry (``create_vehicle`` data) of registered cast member ``index``."""
    brand, engine, maker, list_prefix = _DEMO_MODELS.get((truck.fuel, truck.emission_stage), _DEMO_MODELS[("B", "6")])
    registered = dt.date(2019 + index % 5, 1 + (index * 5) % 12, 3 + index)
    return {
        "plate": truck.plate,
        "plate_colour": "yellow",
        "plate_type": "01",
        "vin": demo_vin(index),
        "vehicle_type": "H11",
        "brand_model": brand,
        "register_date": registered,
        "production_date": registered - dt.timedelta(days=40),
        "engine_model": engine,
        "engine_maker": maker,
        "engine_no": f"{72_358_011 + index * 1_013:08d}",
        "fuel_type": truck.fuel,
        "emission_stage": truck.emission_stage,
        "use_nature": "F",  # 货运
        # 国六 heavy diesel trucks report to the remote emission monitoring platform (§1.4.2 (a) item 18)
        "network_status": "connected" if truck.emission_stage == "6" else "disconnected",
        "env_list_no": f"{list_prefix}{index + 1:010d}",
        "fleet_name": truck.carrier,
        "owner_name": truck.carrier,
        "owner_address": "湖北省武汉市青山区工人村路",
        "total_mass_kg": 49_000,
        "rated_load_kg": 31_000,
    }


async def seed_ledger(settings: object, tenant_id: uuid.UUID) -> list[str]:  # noqa: C901, PLR0915 - three idempotent steps
    """Mirror the video's cast in the cloud: vehicle ledger, blacklist, and the 武汉市 orange alert.

    Idempotent (existing vehicles and blacklist entries are kept; an alert is declared only when
    none is in force for 武汉市). Returns what was added, in Chinese, for the console.
    """
    from sqlalchemy import select  # noqa: PLC0415

    from cloud.compliance import blacklist, emergency, reviews  # noqa: PLC0415
    from cloud.db import models as m  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.domain.vehicles import create_vehicle  # noqa: PLC0415
    from cloud.lib.problems import ProblemError  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    database = Database.from_settings(settings.database)  # type: ignore[attr-defined]
    done: list[str] = []
    try:
        async with database.login_session("demo-admin") as session:
            admin = await session.scalar(select(m.UserAccount.id).where(m.UserAccount.login == "demo-admin"))
        async with database.login_session("platform-admin") as session:
            staff = await session.scalar(select(m.UserAccount.id).where(m.UserAccount.login == "platform-admin"))
        assert admin is not None
        assert staff is not None
        tenant = Principal(user_id=admin, role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="demo-admin")
        async with database.login_session("demo-manager") as session:
            manager = await session.scalar(select(m.UserAccount.id).where(m.UserAccount.login == "demo-manager"))
        assert manager is not None
        checker = Principal(user_id=manager, role=Role.MANAGER, tenant_id=tenant_id, login="demo-manager")
        added = 0
        for i, truck in enumerate(CAST):
            if not truck.registered:
                continue
            data = demo_vehicle_data(i, truck)
            try:
                async with database.session(tenant) as session, session.begin():
                    detail = await create_vehicle(session, tenant, "transport", data, reason="演示数据初始化")
                # maker-checker: the environmental manager verifies what the administrator entered, so the
                # agents get the emission data (unverified vehicles carry none and are refused in alerts)
                async with database.session(checker) as session, session.begin():
                    await reviews.review_version(
                        session, checker, detail.vehicle.id, 1, "verified", "演示数据：随车清单与行驶证已核对"
                    )
                added += 1
            except ProblemError as exc:
                if exc.status != 409:
                    log.warning("demo.vehicle_not_seeded", plate=truck.plate, error=str(exc))
        if added:
            done.append(f"车辆台账 {added} 辆")
        for truck in CAST:
            if not truck.blacklisted:
                continue
            try:
                async with database.session(tenant) as session, session.begin():
                    await blacklist.add(
                        session,
                        tenant,
                        {"plate": truck.plate, "reason": "超标排放车辆（武汉市生态环境局通报）"},
                        "regulator",
                    )
                done.append(f"黑名单 {truck.plate}")
            except ProblemError as exc:
                if exc.status != 409:
                    log.warning("demo.blacklist_not_seeded", plate=truck.plate, error=str(exc))
        actor = Principal(user_id=staff, role=Role.PLATFORM_ADMIN, login="platform-admin")
        now = dt.datetime.now(dt.UTC)
        async with database.session(actor) as session, session.begin():
            active = await session.scalar(
                select(m.RegionAlert.id).where(
                    m.RegionAlert.region_code == DEMO_ALERT_REGION,
                    m.RegionAlert.ends_at > now,
                    m.RegionAlert.starts_at <= now,
                    m.RegionAlert.cancelled_at.is_(None),
                )
            )
        if active is None:
            await emergency.declare(
                database,
                actor,
                DEMO_ALERT_REGION,
                "orange",
                now - dt.timedelta(minutes=5),
                now + dt.timedelta(days=2),
                "武汉市重污染天气橙色预警（演示）",
            )
            done.append("武汉市橙色预警")
    finally:
        await database.dispose()
    return done


async def ensure_agent(settings: object, tenant_id: uuid.UUID, folder: Path, cloud_url: str) -> AgentSetup:
    """Enroll the demo agent like an installer would, once; later runs reuse its credential.

    The cloud issues a one-time enrollment code for the demo site (``create_enrollment_code``); the
    agent side exchanges it (``agent.sync.enroll``, the code path of ``ecogate agent enroll``) and
    keeps the credential in its data folder (0600). A credential whose agent row is gone or revoked
    means a new agent with its own sequence and hash chain, so the old data folder is moved aside
    rather than replayed under the new identity.
    """
    from sqlalchemy import select  # noqa: PLC0415

    from agent.sync import enroll  # noqa: PLC0415
    from cloud.db import models as m  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.hub.credentials import create_enrollment_code  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    database = Database.from_settings(settings.database)  # type: ignore[attr-defined]
    data = folder / "agent-data"
    try:
        async with database.login_session("demo-admin") as session:
            admin = await session.scalar(select(m.UserAccount.id).where(m.UserAccount.login == "demo-admin"))
        assert admin is not None
        scope = Principal(user_id=admin, role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="demo-admin")
        saved = enroll.load_credential(data)
        async with database.session(scope) as session, session.begin():
            found = {
                row.code: row
                for row in await session.execute(
                    select(m.Lane.id, m.Lane.name, m.Lane.code, m.Gate.site_id)
                    .join(m.Gate, m.Gate.id == m.Lane.gate_id)
                    .where(m.Lane.code.in_((DEMO_LANE, DEMO_EXIT_LANE)))
                )
            }
            lane = found[DEMO_LANE]
            out = found.get(DEMO_EXIT_LANE)
            exit_lane = (out.id, str(out.name)) if out is not None else None
            if saved is not None:
                row = (
                    await session.execute(
                        select(m.Agent.status, m.Agent.site_id).where(m.Agent.id == uuid.UUID(saved.agent_id))
                    )
                ).one_or_none()
                if row is not None and row.status == "active" and str(row.site_id) == str(lane.site_id):
                    return new_setup(
                        uuid.UUID(saved.agent_id), lane.site_id, lane.id, str(lane.name), saved.token, exit_lane
                    )
            _, code = await create_enrollment_code(
                session, scope, lane.site_id, "青山厂区东门代理（演示）", dt.timedelta(minutes=10)
            )
        if data.exists():
            data.rename(folder / f"agent-data.old-{uuid.uuid4().hex[:8]}")
        credential = await asyncio.to_thread(enroll.enroll, code, cloud_url, software="ecogate demo")
        await asyncio.to_thread(enroll.save_credential, data, credential)
        log.info("demo.agent_enrolled", agent_id=credential.agent_id)
        return new_setup(
            uuid.UUID(credential.agent_id), lane.site_id, lane.id, str(lane.name), credential.token, exit_lane
        )
    finally:
        await database.dispose()


def _banner(url: str, seed_result: DemoSeed, parts: dict[str, str]) -> str:
    lines = [
        "",
        "=" * 64,
        " EcoGate 环保门禁电子台账云平台 — 演示环境已启动",
        "=" * 64,
        f" 门户与 API:   {url}/",
        f" API 文档:     {url}/schema",
        f" 监管门户:     {url}/regulator（wuhan-regulator 登录，只读）",
        f" 平台管理:     {url}/admin（platform-admin 登录）",
        *([f" 门岗岗亭:     {parts['门岗岗亭']}"] if "门岗岗亭" in parts else []),
        f" 演示企业:     {DEMO_TENANT['name']}（{'新建' if seed_result.created else '已存在'}）",
        f" 登录账号（密码均为 {DEMO_PASSWORD}）:",
    ]
    lines += [f"   {login:<18} {label}" for login, label in LOGINS.items()]
    lines += [" 组件:"]
    lines += [f"   {name:<12} {where}" for name, where in parts.items()]
    lines += [" 按 Ctrl-C 停止所有服务。", "=" * 64, ""]
    return "\n".join(lines)


def say(text: str) -> None:
    """A progress line for the person watching (Chinese), timestamped."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


@dataclass
class Figures:
    """What the demo has done so far (printed, and written to ``--status``)."""

    started_at: float = field(default_factory=time.monotonic)
    ready_after_s: float | None = None
    passes: int = 0
    allowed: int = 0
    refused: int = 0
    with_weighing: int = 0
    barrier_opens: int = 0
    trucks_on_scale: int = 0
    regsim_received: int | None = None
    parts: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        """The figures as a JSON object."""
        return {
            "ready_after_s": self.ready_after_s,
            "passes": self.passes,
            "allowed": self.allowed,
            "refused": self.refused,
            "with_weighing": self.with_weighing,
            "barrier_opens": self.barrier_opens,
            "trucks_on_scale": self.trucks_on_scale,
            "regsim_received": self.regsim_received,
            "parts": self.parts,
            "missing": self.missing,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
        }


_REASONS = {
    "allowed": "准入",
    "unknown_vehicle": "未登记车辆",
    "blacklisted": "黑名单",
    "emergency_heavy_stage": "预警期间国四及以下重型柴油车",
    "emergency_nrmm_stage": "预警期间非道路机械排放阶段不符",
}


class Regsim:
    """The regulator platform simulator (issue 8) as the demo tenant's platform, when it is available.

    Uses ``infra.regsim.RegulatorSimulator`` (in-process, ``transport_control`` profile), configures
    it as the tenant's platform through ``cloud.uplink.platforms.configure`` and runs one
    ``cloud.uplink.worker.UplinkWorker`` (workers share the outbox with ``FOR UPDATE SKIP LOCKED``,
    so one in the cloud process as well is harmless). Each missing piece is reported, not fatal.
    """

    def __init__(self) -> None:
        """Nothing started yet."""
        self.sim: Any = None
        self.notes: list[str] = []
        self._worker_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._database: Any = None

    async def start(self, settings: object, tenant_id: uuid.UUID) -> str | None:
        """Start the simulator and wire it as the tenant's platform; None when there is no simulator."""
        try:
            regsim = importlib.import_module("infra.regsim")
        except ImportError:
            return None
        self.sim = regsim.RegulatorSimulator()
        await self.sim.start()
        try:
            platforms = importlib.import_module("cloud.uplink.platforms")
            worker_module = importlib.import_module("cloud.uplink.worker")
        except ImportError as exc:
            self.notes.append(f"上报模块不可用（{exc}）：模拟器已启动，但记录不会上报")
            return str(self.sim.url)
        from cloud.blobs import open_store  # noqa: PLC0415
        from cloud.db.engine import Database  # noqa: PLC0415
        from tenants.context import Principal, Role  # noqa: PLC0415

        self._database = Database.from_settings(settings.database)  # type: ignore[attr-defined]
        scope = Principal(user_id=uuid.UUID(int=0), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="demo-seed")
        try:
            async with self._database.session(scope) as session, session.begin():
                await platforms.configure(
                    session,
                    tenant_id,
                    profile="transport_control",
                    base_url=str(self.sim.url),
                    enterprise_code=DEMO_TENANT["uscc"],
                    credentials={"username": "ecogate", "password": "EcoGate@2026"},
                    enterprise_name=DEMO_TENANT["name"],
                )
            worker = worker_module.UplinkWorker(self._database, open_store(settings.blobs))  # type: ignore[attr-defined]
            self._worker_task = asyncio.create_task(worker.run(self._stop))
        except Exception as exc:
            log.exception("demo.uplink_setup_failed")
            self.notes.append(f"监管平台模拟器已启动，但未能配置为企业的上报平台：{exc}")
        return str(self.sim.url)

    def received(self) -> int | None:
        """Records the simulator accepted so far (None when not running)."""
        if self.sim is None:
            return None
        return len(self.sim.records)

    async def stop(self) -> None:
        """Stop the worker, then the simulator."""
        self._stop.set()
        if self._worker_task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._worker_task, 10)
        if self.sim is not None:
            await self.sim.stop()
        if self._database is not None:
            await self._database.dispose()


async def _watch_barrier(
    lanes: Any,
    figures: Figures,
    deck: Deck,
    stop: asyncio.Event,
    auto_close_s: float = 3.0,
    label: str = "东门入口道闸",
) -> None:
    """Count the arm going up; close it once the truck has driven through.

    A real barrier controller lowers the arm by itself when the vehicle leaves the safety loop
    under it; the Modbus relay simulator has no such loop, so the demo plays that part here.
    """
    was_open = False
    opened_at = 0.0
    commands = 0
    pending: list[asyncio.Task[None]] = []
    while not stop.is_set():
        barrier = lanes.barrier
        now_open = bool(barrier is not None and barrier.is_open)
        # one truck drives through per open command, also when two passes come while the arm is still up
        for _ in range((barrier.opens if barrier is not None else 0) - commands):
            commands += 1
            pending.append(asyncio.create_task(_truck_through(lanes, deck)))
        pending = [task for task in pending if not task.done()]
        if now_open and not was_open:
            figures.barrier_opens += 1
            opened_at = time.monotonic()
            say(f"{label}抬起（Modbus 继电器），累计 {figures.barrier_opens} 次")
        if now_open and time.monotonic() - opened_at > auto_close_s:
            barrier._coil_changed(barrier.CLOSE_COIL, value=True)  # noqa: SLF001 - the controller's own auto-close
        was_open = now_open
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


#: How long after an open command the lane's screen may take to show the plate it let through.
SCREEN_WAIT_S = 3.0


async def _truck_through(lanes: Any, deck: Deck) -> None:
    """The truck the gate just let through drives towards the deck: the one whose plate the screen shows.

    The lane's EG-LED/1 screen shows the allowed plate once the relay confirmed the open (the four lines
    of agent/runtime/pipeline.py). Without a screen, or when it shows no allowed plate in time, the
    oldest truck waiting at the barrier goes (a pushed read the agent never took must not hand its
    truck's weight to the next plate: issue 15).
    """
    led = getattr(lanes, "led", None)
    plate: str | None = None
    if led is not None:
        before = led.current
        deadline = time.monotonic() + SCREEN_WAIT_S
        while led.current is before and time.monotonic() < deadline:  # noqa: ASYNC110 - the simulator has no event
            await asyncio.sleep(0.05)
        texts = led.current.texts
        if len(texts) >= 3 and texts[2] == "欢迎光临 请通行":
            plate = texts[0]
    deck.barrier_opened(plate)


async def _watch_ledger(  # noqa: C901, PLR0915 - one polling loop with its printing and its final count
    settings: object, setup: AgentSetup, figures: Figures, regsim: Regsim, stop: asyncio.Event, status: Path | None
) -> None:
    from sqlalchemy import func, select  # noqa: PLC0415

    from cloud.db import models as m  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415

    database = Database.from_settings(settings.database)  # type: ignore[attr-defined]
    agent_id = uuid.UUID(setup.agent_id)
    last_seq: int | None = None
    last_weighing: dt.datetime | None = None
    last_summary = time.monotonic()
    try:
        async with database.login_session("demo-admin") as session:
            user = await session.scalar(select(m.UserAccount).where(m.UserAccount.login == "demo-admin"))
        assert user is not None
        scope = Principal(user_id=user.id, role=Role.TENANT_ADMIN, tenant_id=user.tenant_id, login="demo-admin")
        while True:
            last_round = stop.is_set()  # set once the agent has stopped: this poll is the final count
            try:
                async with database.session(scope) as session, session.begin():
                    if last_seq is None:
                        last_seq = int(
                            await session.scalar(
                                select(func.coalesce(func.max(m.PassEvent.seq), 0)).where(
                                    m.PassEvent.agent_id == agent_id
                                )
                            )
                            or 0
                        )
                        # a later run follows only its own weighings (the earlier runs' are in the ledger already)
                        last_weighing = await session.scalar(select(func.max(m.Weighing.received_at)))
                    rows = (
                        await session.execute(
                            select(m.PassEvent)
                            .where(m.PassEvent.agent_id == agent_id, m.PassEvent.seq > last_seq)
                            .order_by(m.PassEvent.seq)
                            .limit(200)
                        )
                    ).scalars()
                    for event in rows:
                        last_seq = event.seq
                        figures.passes += 1
                        reasons = "、".join(_REASONS.get(c, c) for c in event.reason_codes if c != "allowed")
                        if event.decision == "allow":
                            figures.allowed += 1
                            verdict = "放行"
                        else:
                            figures.refused += 1
                            verdict = f"拦截（{reasons or event.decision}）"
                        way = "出厂" if event.direction == "out" else "入厂"
                        say(f"{way} {event.plate or '无牌'} {verdict} — 已上传云端台账（序号 {event.seq}）")
                    # Weights arrive after their pass (the deck is behind the barrier; docs/devices.md).
                    weighed = (
                        await session.execute(
                            select(m.Weighing, m.PassEvent.plate)
                            .join(m.PassEvent, m.PassEvent.id == m.Weighing.pass_event_id)
                            .where(m.PassEvent.agent_id == agent_id)
                            .where(m.Weighing.received_at > (last_weighing or dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))
                            .order_by(m.Weighing.received_at)
                            .limit(200)
                        )
                    ).all()
                    for weighing, plate in weighed:
                        last_weighing = weighing.received_at
                        figures.with_weighing += 1
                        net = f"，净重 {weighing.net_kg:,.0f} kg" if weighing.net_kg is not None else ""
                        say(f"称重 {plate or '无牌'} {weighing.weight_kg:,.0f} kg{net} — 已关联到该车的通行记录")
            except Exception as exc:  # noqa: BLE001 - the watcher must survive a database hiccup
                log.warning("demo.ledger_poll_failed", error=str(exc))
            figures.regsim_received = regsim.received()
            if figures.ready_after_s is None and figures.passes:
                figures.ready_after_s = round(time.monotonic() - figures.started_at, 1)
                say(f"就绪：卡车通行中，记录正在上传（启动后 {figures.ready_after_s} 秒）")
                log.info("demo.ready", trucks_flowing=True, records_uploading=True, after_s=figures.ready_after_s)
            if time.monotonic() - last_summary >= 30:
                last_summary = time.monotonic()
                received = "未运行" if figures.regsim_received is None else f"{figures.regsim_received} 条"
                say(
                    f"小结：云端已存 {figures.passes} 条（放行 {figures.allowed}，拦截 {figures.refused}），"
                    f"道闸抬起 {figures.barrier_opens} 次，地磅来车 {figures.trucks_on_scale} 辆，"
                    f"监管平台模拟器已收 {received}"
                )
            if status is not None:
                tmp = status.with_suffix(".tmp")
                tmp.write_text(json.dumps(figures.as_json(), ensure_ascii=False), encoding="utf-8")
                tmp.replace(status)
            if last_round:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await database.dispose()


#: A truck shown by the camera that no barrier opening took within this long never passed (refused, unread).
APPROACH_EXPIRY_S = 1.5 * (SECONDS_PER_VEHICLE + GAP_S)
#: Seconds the deck reads empty between two trucks (the agent ends an occupancy on an empty reading).
DECK_EMPTY_S = 0.8


class Deck:
    """The 东门 weighbridge, standing behind the inbound barrier as at most plants (docs/devices.md).

    A truck drives onto the deck only after the barrier opened for it, one truck at a time: the camera
    announces each truck the gate should let in (``truck_shown``), each open command of the barrier
    takes the oldest such truck still waiting (``barrier_opened``), and the deck plays their weights in that
    order with an empty deck between two trucks. The agent's allowed pass therefore finds its own
    truck as the next occupancy, however far its recognizer lags the video (a fresh demo at load 25
    drove the deck at the first frame instead, and 12 of 20 weights went to the previous or next
    truck). A truck whose pass never came expires (``APPROACH_EXPIRY_S``): it never reaches the deck,
    so its weight cannot be given to another plate.
    """

    def __init__(
        self, lanes: Any, figures: Figures, *, cast: tuple[DemoTruck, ...] = CAST, leaving: bool = False
    ) -> None:
        """Nothing approaching yet. ``cast`` is the camera's video; ``leaving``: empty trucks (tare) on the exit."""
        self.lanes = lanes
        self.figures = figures
        self.cast = cast
        self.leaving = leaving
        self.approaching: deque[tuple[float, DemoTruck]] = deque()
        self.queue: asyncio.Queue[DemoTruck] = asyncio.Queue()

    def truck_shown(self, vehicle: int) -> None:
        """The camera shows vehicle ``vehicle`` driving up (refused trucks never reach the deck)."""
        truck = self.cast[vehicle % len(self.cast)]
        if truck.expected == "allow":
            self.approaching.append((time.monotonic(), truck))

    def barrier_opened(self, plate: str | None = None) -> None:
        """The arm went up for ``plate``: that truck drives through towards the deck (the oldest waiting when
        the plate is not known, or is none of the waiting trucks')."""
        now = time.monotonic()
        while self.approaching and now - self.approaching[0][0] > APPROACH_EXPIRY_S:
            self.approaching.popleft()
        if plate is not None:
            for i, (_, truck) in enumerate(self.approaching):
                if truck.plate == plate:
                    del self.approaching[i]
                    self.queue.put_nowait(truck)
                    return
            known = next((t for t in self.cast if t.plate == plate), None)
            if known is not None:  # let through though the deck never saw it coming: that truck still drives on
                self.queue.put_nowait(known)
                return
        if self.approaching:
            self.queue.put_nowait(self.approaching.popleft()[1])

    def profile(self, truck: DemoTruck, seed: int) -> Any:
        """The deck's readings for one truck: drive on, settle, stand (longer than the 2 s stability window), leave."""
        from agent.devices.sim.profiles import ScaleProfile  # noqa: PLC0415

        kg = truck.kg_tare if self.leaving else truck.kg_loaded
        return ScaleProfile.truck(kg, ramp_s=1.0, settle_s=0.8, hold_s=3.0, seed=seed)

    async def run(self, stop: asyncio.Event) -> None:
        """Put the trucks on the deck one after the other until ``stop``."""
        while not stop.is_set():
            try:
                truck = await asyncio.wait_for(self.queue.get(), 0.5)
            except TimeoutError:
                continue
            profile = self.profile(truck, self.figures.trucks_on_scale)
            if self.lanes.weighbridge is not None:
                self.lanes.weighbridge.play(profile)
            self.figures.trucks_on_scale += 1
            await asyncio.sleep(profile.duration + DECK_EMPTY_S)


class AgentProcess:
    """The one agent child process, ``ecogate agent run`` (its own session: Ctrl-C reaches it only through us)."""

    def __init__(self, config: Path, log_path: Path) -> None:
        """Prepare."""
        self.config = config
        self.log_path = log_path
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> int:
        """Start; returns the pid."""
        out = self.log_path.open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ecogate_cli",
                "agent",
                "run",
                str(self.config),
                cwd=ROOT,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            out.close()
        return self.proc.pid

    async def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM, wait, SIGKILL if needed; returns the exit code."""
        if self.proc is None or self.proc.returncode is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            log.warning("demo.agent_kill", pid=self.proc.pid)
            self.proc.kill()
            return await self.proc.wait()


async def run_demo(  # noqa: C901, PLR0915 - the start sequence, its progress lines and its reverse stop
    settings: object, seed_result: DemoSeed, port: int, seconds: float, status: Path | None, figures: Figures
) -> None:
    """Start the cloud, simulators, camera and agent; follow the ledger until stopped."""
    import uvicorn  # noqa: PLC0415

    from agent.devices.sim.lane import LaneSimulators  # noqa: PLC0415
    from cloud.app import create_app  # noqa: PLC0415
    from cloud.cli._common import data_dir  # noqa: PLC0415

    folder = data_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    url = f"http://127.0.0.1:{port}"
    stack = contextlib.AsyncExitStack()
    tasks: list[asyncio.Task[None]] = []
    ledger: list[asyncio.Task[None]] = []
    agent_stopped = asyncio.Event()

    async def _finish_ledger() -> None:
        """After the agent has stopped: the watcher's last count, so the final figures match the ledger."""
        agent_stopped.set()
        for task in ledger:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)

    try:
        # --- cloud
        config = uvicorn.Config(
            create_app(settings),  # type: ignore[arg-type]
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws="websockets-sansio",
        )
        server = _QuietServer(config)
        serve = asyncio.create_task(server.serve())

        async def _stop_server() -> None:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(serve, 10)

        stack.push_async_callback(_stop_server)
        while not server.started and not serve.done():  # noqa: ASYNC110 - uvicorn exposes only a flag
            await asyncio.sleep(0.05)
        if not server.started:
            say(f"云端未能在端口 {port} 启动（端口被占用？），演示中止")
            return
        figures.parts["云端"] = url
        say(f"云端已启动：{url}")

        await _start_stripe_fake(url, stack, figures)  # online payment, offline (issue 22)

        # --- regulator platform simulator
        regsim = Regsim()
        try:
            where = await regsim.start(settings, seed_result.tenant_id)
        except Exception as exc:
            log.exception("demo.regsim_failed")
            where = None
            figures.missing.append(f"监管平台模拟器启动失败：{exc}")
        if where is None:
            if not figures.missing:
                figures.missing.append("监管平台模拟器（infra/regsim，issue 8）尚未提供：记录只上传到云端")
            say(figures.missing[-1])
        else:
            stack.push_async_callback(regsim.stop)
            figures.parts["监管平台模拟器"] = where
            say(f"监管平台模拟器已启动：{where}（企业上报平台，transportControl 协议）")
            for note in regsim.notes:
                figures.missing.append(note)
                say(note)

        # --- identity of the agent
        setup = await ensure_agent(settings, seed_result.tenant_id, folder, url)
        say(f"代理已用一次性注册码注册到演示厂区（代理 {setup.agent_id[:8]}…，车道 {setup.lane_name}）")

        # --- device simulators on pseudo-terminals
        dev_dir = Path(tempfile.mkdtemp(prefix="ecogate-demo-dev-"))
        (dev_dir / "exit").mkdir()
        lanes = await LaneSimulators.start(dev_dir, loop_channels=0, barrier_travel_s=1.0)
        exit_lanes = await LaneSimulators.start(dev_dir / "exit", loop_channels=0, barrier_travel_s=1.0)

        async def _stop_lanes() -> None:
            await lanes.stop()
            await exit_lanes.stop()
            shutil.rmtree(dev_dir, ignore_errors=True)

        stack.push_async_callback(_stop_lanes)
        ports = lanes.urls
        exit_ports = exit_lanes.urls
        figures.parts["设备模拟器"] = "、".join(
            [f"入口{k}={v}" for k, v in ports.items()] + [f"出口{k}={v}" for k, v in exit_ports.items()]
        )
        say("设备模拟器已启动（伪终端，入口、出口各一套）：道闸 Modbus RTU、地磅 XK3190-A9、LED 屏")

        # --- cameras (generated videos of trucks): loaded trucks drive in, the same trucks leave empty
        video = await asyncio.to_thread(ensure_video, folder)
        exit_video = await asyncio.to_thread(ensure_exit_video, folder)
        deck = Deck(lanes, figures)
        exit_deck = Deck(exit_lanes, figures, cast=EXIT_CAST, leaving=True)
        camera = MjpegCamera(video, on_vehicle=deck.truck_shown)
        exit_camera = MjpegCamera(exit_video, on_vehicle=exit_deck.truck_shown, lead_s=DWELL_S)
        await camera.start()
        stack.push_async_callback(camera.stop)
        await exit_camera.start()
        stack.push_async_callback(exit_camera.stop)
        figures.parts["相机视频流"] = f"入口 {camera.url}、出口 {exit_camera.url}"
        say(
            f"演示相机已启动：入口 {camera.url}（{len(CAST)} 辆货车循环驶来），"
            f"出口 {exit_camera.url}（入厂车辆约 {DWELL_S:.0f} 秒后空车出厂，出口地磅称皮重）"
        )

        # --- the agent
        seed_file = folder / "vehicles.json"
        seed_file.write_bytes(registry_snapshot())
        exit_lane = (
            LaneSetup("east-out", setup.exit_lane_id, setup.exit_lane_name, "out", exit_camera.url, exit_ports)
            if setup.exit_lane_id
            else None
        )
        booth = await asyncio.to_thread(_booth_setup)
        agent_cfg = write_config(
            folder / "agent.toml",
            setup,
            data_dir=folder / "agent-data",
            camera_url=camera.url,
            ports=ports,
            registry_seed=seed_file,
            cloud_url=f"ws://127.0.0.1:{port}/agent/ws",
            exit_lane=exit_lane,
            booth=booth,
        )
        await _switch_to_push_camera(agent_cfg, camera, deck, stack, figures)  # issue 23: --camera-family
        figures.parts["门岗岗亭"] = f"http://127.0.0.1:{booth.port}/（{booth.guard_name}，PIN {DEMO_PIN}）"
        agent = AgentProcess(agent_cfg, folder / "agent.log")
        # Stopping unwinds in reverse: the agent stops (uploading what it still holds), then the
        # ledger watcher counts once more, then the cloud and its database go.
        stack.push_async_callback(_finish_ledger)
        pid = await agent.start()
        stack.push_async_callback(agent.stop)
        figures.parts["代理进程"] = f"pid {pid}，日志 {folder / 'agent.log'}"
        say(f"代理已启动（pid {pid}），等待第一辆车 …")

        print(_banner(url, seed_result, figures.parts), flush=True)

        tasks.append(asyncio.create_task(_watch_barrier(lanes, figures, deck, stop)))
        tasks.append(asyncio.create_task(deck.run(stop)))
        tasks.append(asyncio.create_task(_watch_barrier(exit_lanes, figures, exit_deck, stop, label="东门出口道闸")))
        tasks.append(asyncio.create_task(exit_deck.run(stop)))
        ledger.append(asyncio.create_task(_watch_ledger(settings, setup, figures, regsim, agent_stopped, status)))

        async def _agent_exit() -> None:
            assert agent.proc is not None
            code = await agent.proc.wait()
            if not stop.is_set():
                say(f"代理进程意外退出（退出码 {code}），详见 {agent.log_path}")
                stop.set()

        tasks.append(asyncio.create_task(_agent_exit()))
        waiters = [asyncio.create_task(stop.wait()), serve]
        await asyncio.wait(waiters, timeout=seconds or None, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        say("正在停止：代理 → 相机 → 设备模拟器 → 监管平台模拟器 → 云端 …")
        for task in tasks:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
        await stack.aclose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if status is not None:
            status.write_text(json.dumps(figures.as_json(), ensure_ascii=False), encoding="utf-8")  # noqa: ASYNC240 - last write at stop


async def _start_stripe_fake(url: str, stack: contextlib.AsyncExitStack, figures: Figures) -> None:
    """The fake Stripe (infra/stripe_fake.py, docs/billing.md) for the billing pages, unless real keys are set."""
    if os.environ.get("ECOGATE_STRIPE_SECRET_KEY"):
        return
    from infra.stripe_fake import StripeFake  # noqa: PLC0415

    stripe_fake = StripeFake(
        api_key="sk_test_demo",
        webhook_secret="whsec_demo",  # noqa: S106 - the fake's own signing secret, demo only
        webhook_url=f"{url}/api/v1/billing/webhooks",
    )
    stripe_url = await stripe_fake.start("127.0.0.1", 0)
    os.environ.update(
        ECOGATE_STRIPE_SECRET_KEY=stripe_fake.api_key,
        ECOGATE_STRIPE_API_BASE=stripe_url,
        ECOGATE_STRIPE_WEBHOOK_SECRET=stripe_fake.webhook_secret,
    )
    stack.push_async_callback(stripe_fake.stop)
    figures.parts["在线支付模拟"] = stripe_url
    say(f"在线支付模拟（Stripe 测试接口）已启动：{stripe_url}（账单与发票页可试付款）")


def _booth_setup() -> BoothSetup:
    """The booth page on a free loopback port, for the demo guard (王师傅) with :data:`DEMO_PIN`."""
    import socket  # noqa: PLC0415

    from agent.booth.auth import hash_pin  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = int(probe.getsockname()[1])
    return BoothSetup(port=free, guard_name="王师傅", guard_account="demo-guard", pin_hash=hash_pin(DEMO_PIN))


async def _switch_to_push_camera(
    agent_cfg: Path, camera: MjpegCamera, deck: Deck, stack: contextlib.AsyncExitStack, figures: Figures
) -> None:
    """Issue 23, ``--camera-family``: unless it is ``video``, the inbound lane's camera reads plates itself and
    pushes them in that family's format; the agent receives them instead of pulling the video (docs/devices.md)."""
    family = os.environ.get("ECOGATE_DEMO_CAMERA_FAMILY", "video")
    if family == "video":
        return
    from agent.devices.sim.push_camera import PushCameraSimulator, switch_lane_to_push  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        push_port = int(probe.getsockname()[1])
    await asyncio.to_thread(switch_lane_to_push, agent_cfg, camera_id="cam-east", family=family, push_port=push_port)
    first_frame = {vehicle: frame for frame, vehicle in camera.first_frames.items()}
    offset = round(SECONDS_PER_VEHICLE * camera.fps / 2)  # the truck in the middle of the picture

    def scene(i: int) -> bytes | None:
        at = first_frame.get(i % len(CAST))
        return camera.frames[(at + offset) % len(camera.frames)] if at is not None else None

    pusher = PushCameraSimulator(
        family,
        f"http://127.0.0.1:{push_port}/camera-push/cam-east",
        [(truck.plate, "yellow") for truck in CAST],
        every_s=camera_period_s(),
        scene=scene,
        on_vehicle=deck.truck_shown,
        first_after_s=5.0,  # the agent process is still starting
    )
    await pusher.start()
    stack.push_async_callback(pusher.stop)
    figures.parts["相机视频流"] = (
        f"{figures.parts.get('相机视频流', '')}；入口车道改为相机推送（{family}，端口 {push_port}）"
    )
    say(f"入口车道相机改为 {family} 推送：相机自行识别车牌并推送到本机 {push_port} 端口")


def camera_period_s() -> float:
    """Seconds between two trucks of the demo video."""
    return SECONDS_PER_VEHICLE + GAP_S


class _QuietServer:
    """uvicorn's server without its signal capture (the demo owns SIGINT/SIGTERM)."""

    def __init__(self, config: Any) -> None:
        import uvicorn  # noqa: PLC0415

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        self._server = _Server(config)

    @property
    def started(self) -> bool:
        """uvicorn's started flag."""
        return bool(self._server.started)

    @property
    def should_exit(self) -> bool:
        """uvicorn's exit flag."""
        return bool(self._server.should_exit)

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._server.should_exit = value

    async def serve(self) -> None:
        """Serve until told to exit."""
        await self._server.serve()


def main(argv: list[str]) -> int:
    """Run the demo until Ctrl-C (or ``--seconds``)."""
    parser = argparse.ArgumentParser(prog="ecogate demo", description="一键演示")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ECOGATE_PORT", "8000")))
    parser.add_argument("--seconds", type=float, default=0, help="运行指定秒数后自动停止（用于冒烟测试）")
    parser.add_argument("--status", type=Path, default=None, help="把运行数据（JSON）持续写入此文件")
    parser.add_argument("--verbose", action="store_true", help="同时输出各组件的详细日志（默认只输出警告及以上）")
    parser.add_argument(
        "--camera-family",
        choices=["video", "hikvision-isapi", "dahua-itc", "vzenith-vz", "generic-json"],
        default=os.environ.get("ECOGATE_DEMO_CAMERA_FAMILY", "video"),
        help="入口车道的相机：video=视频流由本机识别；其余=相机自行识别并按该厂家格式推送（docs/devices.md）",
    )
    args = parser.parse_args(argv)
    os.environ["ECOGATE_DEMO_CAMERA_FAMILY"] = args.camera_family  # read by run_demo (issue 23)
    figures = Figures()

    import logging  # noqa: PLC0415

    from cloud.cli._common import data_dir, ensure_dev_database  # noqa: PLC0415
    from cloud.db import migrate  # noqa: PLC0415
    from cloud.logging import configure_logging  # noqa: PLC0415
    from infra.pg import EmbeddedPostgres  # noqa: PLC0415

    # The console is for the person watching: progress lines, plus components' warnings and errors.
    configure_logging(logging.INFO if args.verbose else logging.WARNING)
    embedded = not os.environ.get("DATABASE_URL")
    say("正在启动内置 PostgreSQL 并迁移数据库 …")
    settings = ensure_dev_database()
    try:
        migrate.upgrade(settings.database.owner_url)
        result = asyncio.run(seed(settings))
        try:
            added = asyncio.run(seed_ledger(settings, result.tenant_id))
        except Exception as exc:
            log.exception("demo.seed_ledger_failed")
            added = [f"（云端台账初始化失败：{exc}）"]
        if added:
            say("云端台账已补充：" + "、".join(added))
        say(f"演示数据就绪：{DEMO_TENANT['name']}（两个出入口、四条车道）、武汉市监管账号、平台管理员")
        asyncio.run(run_demo(settings, result, args.port, args.seconds, args.status, figures))
    except KeyboardInterrupt:
        pass
    finally:
        if embedded:
            EmbeddedPostgres(data_dir() / "pg").stop()
        say(
            f"演示已停止，所有服务均已关闭。本次：云端存入 {figures.passes} 条过车记录"
            f"（放行 {figures.allowed}，拦截 {figures.refused}），道闸抬起 {figures.barrier_opens} 次。"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
