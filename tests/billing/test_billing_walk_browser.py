"""Issue 22 acceptance: a tenant walks trial → Checkout → active → card failure → past due → grace →
restricted → paid by bank transfer → active through the real portal pages in Chromium, and at every step
its agent keeps syncing, the gate keeps deciding and the uplink keeps sending (ADR 0033).

Real parts: the cloud as a uvicorn process over TCP (Stripe env pointing at infra/stripe_fake.py, one
uplink worker inside), the fake Stripe in a thread of its own delivering signed webhooks over TCP, an agent
(its DecisionEngine deciding at the barrier, its Outbox, its SyncClient on the hub's websocket), the
regulator simulator (infra/regsim) receiving the uplink, Playwright driving Debian's Chromium for the
tenant admin and the platform admin. Time for the dunning stages is the scheduled sweep run with a later
clock (``service.sweep(database, now + days)``), as the job would run days later.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from agent.decision.engine import DecisionEngine, DecisionRequest
from agent.decision.registry import LocalRegistry, RegistrySnapshot, RegistryVehicle
from agent.outbox import Outbox, PhotoData
from agent.sync import SyncClient
from agent_protocol.events import Decision, Direction, PassEvent, SnapshotRole, new_event_id
from cloud.billing import service
from cloud.hub.credentials import issue_agent_credential
from hj1321.emission import EmissionStage
from hj1321.plates import PlateColour
from hj1321.vehicles import FuelType, VehicleCategory, VehicleType
from infra.regsim import RegulatorSimulator
from infra.stripe_fake import StripeFake
from tenants.context import Principal, Role
from tests.portal.browser_kit import CHROMIUM, FLAGS, ROOT, load, shot, watch

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.xdist_group("portal-browser"),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium missing (make install runs infra/sysdeps.sh)"),
]

_cloud = load("_billing_walk_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py")
_sync = load("_billing_walk_sync_conftest", ROOT / "tests" / "sync" / "conftest.py")
fx_settings = _cloud.fx_settings
fx_make_tenant = _cloud.fx_make_tenant
fx_make_staff = _cloud.fx_make_staff
PASSWORD = _cloud.PASSWORD
DISTRICT = "330108"  # 杭州市滨江区: no region-wide alerts of other tests


def _jpeg(width: int, height: int) -> bytes:
    frame = np.full((height, width, 3), (120, 130, 125), dtype=np.uint8)
    cv2.rectangle(frame, (width // 4, height // 3), (3 * width // 4, height - 10), (40, 90, 170), -1)
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return bytes(data)


@pytest.fixture(name="stripe_fake")
def fx_stripe_fake() -> Iterator[tuple[StripeFake, str]]:
    """The fake Stripe in a thread of its own (HTTP webhook delivery; the URL is set once the cloud runs)."""
    fake = StripeFake(api_key="sk_test_walk", webhook_secret="whsec_walk_test")
    url = fake.start_in_thread()
    try:
        yield fake, url
    finally:
        fake.stop_thread()


@pytest.fixture(name="server")
def fx_server(db_urls: Any, tmp_path: Path, stripe_fake: tuple[StripeFake, str]) -> Iterator[Any]:
    """The cloud as a real uvicorn process, configured for the fake Stripe, with an uplink worker."""
    fake, url = stripe_fake
    proc = _sync.CloudProcess(db_urls, tmp_path / "cloud" / "blobs", tmp_path / "cloud.log")
    proc.blob_root.mkdir(parents=True)
    proc.env.update(
        ECOGATE_STRIPE_SECRET_KEY=fake.api_key,
        ECOGATE_STRIPE_API_BASE=url,
        ECOGATE_STRIPE_WEBHOOK_SECRET=fake.webhook_secret,
        ECOGATE_UPLINK_WORKERS="1",
    )
    fake.webhook_url = f"http://127.0.0.1:{proc.port}/api/v1/billing/webhooks"
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():  # noqa: ASYNC110 - polling other processes' progress
        await asyncio.sleep(0.05)


class Plant:
    """The tenant's agent: decides at the barrier, keeps the outbox, syncs; the uplink's regulator."""

    def __init__(self, site: dict[str, str], token: str, box: Outbox, server: Any, regsim: RegulatorSimulator) -> None:
        self.site = site
        self.box = box
        self.regsim = regsim
        trucks = tuple(
            RegistryVehicle(
                registry_id=f"walk-{n}",
                category=VehicleCategory.TRANSPORT,
                plate=f"浙A{n:04d}D",
                plate_colour=PlateColour.YELLOW,
                vehicle_type=VehicleType("H11"),
                fuel=FuelType.ELECTRIC,
                emission_stage=EmissionStage("D"),
            )
            for n in range(1, 7)
        )
        self.engine = DecisionEngine(registry=LocalRegistry(RegistrySnapshot(version="walk-1", vehicles=trucks)))
        self.sync = SyncClient(server.url, token, box, heartbeat_s=0.5, poll_s=0.05)
        self.count = 0
        self.decisions: list[tuple[str, Decision, str]] = []
        self.scene, self.plate_photo = _jpeg(640, 360), _jpeg(160, 48)

    async def gate_pass(self, step: str) -> None:
        """A truck at the in lane: the gate decides, the agent syncs it, the uplink sends it."""
        self.count += 1
        plate = f"浙A{self.count:04d}D"
        now = dt.datetime.now(dt.UTC)
        outcome = await self.engine.decide(
            DecisionRequest(
                lane_id=self.site["lane"],
                direction=Direction.IN,
                moment=now,
                plate=plate,
                plate_colour=PlateColour.YELLOW,
                confidence=0.97,
            )
        )
        assert outcome.decision is Decision.ALLOW, outcome  # a registered 新能源 truck: the barrier opens
        assert outcome.message  # a Chinese sentence for the guard
        event = PassEvent(
            event_id=new_event_id(),
            agent_id=self.site["agent"],
            site_id=self.site["site"],
            lane_id=self.site["lane"],
            direction=Direction.IN,
            occurred_at=now,
            plate=plate,
            plate_colour=PlateColour.YELLOW,
            confidence=0.97,
            decision=outcome.decision,
            reasons=outcome.reasons,
            message=outcome.message,
            read_id=f"walk-{self.count}",
        )
        self.box.append(
            event,
            photos=[
                PhotoData(role=SnapshotRole.SCENE, data=self.scene),
                PhotoData(role=SnapshotRole.PLATE, data=self.plate_photo),
            ],
        )
        async with asyncio.timeout(60):
            await _until(lambda: self.box.stats().acked >= self.count)  # the agent keeps syncing
            await _until(lambda: any(r.get("cphm") == plate for r in self.regsim.records.values()))  # uplink sends
        self.decisions.append((step, outcome.decision, plate))


async def test_a_tenant_walks_billing_in_a_browser_while_the_plant_keeps_working(
    server: Any,
    stripe_fake: tuple[StripeFake, str],
    make_tenant: Any,
    make_staff: Any,
    database: Any,
    tmp_path: Path,
) -> None:
    import anyio  # noqa: PLC0415

    fake, _ = stripe_fake
    tenant = await make_tenant(DISTRICT, name="杭州滨江示范建材有限公司（账单）")
    admin_login = await make_staff("platform_admin")
    base = f"http://127.0.0.1:{server.port}"
    async with RegulatorSimulator() as regsim, httpx.AsyncClient(base_url=base, timeout=30) as http:
        token = (await http.post("/api/v1/auth/login", json={"login": tenant.admin_login, "password": PASSWORD})).json()
        headers = {"Authorization": f"Bearer {token['token']}"}
        site = await http.post("/api/v1/sites", json={"name": "一厂区"}, headers=headers)
        gate = await http.post(
            f"/api/v1/sites/{site.json()['id']}/gates", json={"code": "G1", "name": "东门"}, headers=headers
        )
        lane = await http.post(
            f"/api/v1/gates/{gate.json()['id']}/lanes",
            json={"code": "IN1", "name": "入口", "direction": "in"},
            headers=headers,
        )
        assert lane.status_code == 201, lane.text
        platform = {
            "base_url": regsim.url,
            "enterprise_code": "3301080001",
            "enterprise_name": tenant.name,
            "username": "ecogate",
            "password": "EcoGate@2026",
        }
        assert (await http.put("/api/v1/uplink/platform", json=platform, headers=headers)).status_code == 200
        actor = Principal(user_id=uuid.uuid4(), role=Role.TENANT_ADMIN, tenant_id=tenant.tenant_id, login="walk")
        agent_id, agent_token = await issue_agent_credential(database, actor, uuid.UUID(site.json()["id"]), "东门岗亭")
        ids = {"site": site.json()["id"], "lane": lane.json()["id"], "agent": str(agent_id)}
        plant = Plant(ids, agent_token, Outbox(tmp_path / "outbox", agent_id=str(agent_id)), server, regsim)
        stop = asyncio.Event()
        task = asyncio.create_task(plant.sync.run(stop))
        try:
            steps = _Steps(plant, fake, database, http, headers)
            await anyio.to_thread.run_sync(_walk, base, tenant, admin_login, steps)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    assert [s for s, _, _ in plant.decisions] == [
        "trial", "active", "past_due", "grace", "restricted", "paid_by_transfer"
    ]  # fmt: skip
    print("\ngate decisions at each step:", plant.decisions)  # noqa: T201 - reported


class _Steps:
    """The async steps the browser thread asks for (through anyio.from_thread)."""

    def __init__(self, plant: Plant, fake: StripeFake, database: Any, http: httpx.AsyncClient, headers: dict[str, str]):
        self.plant, self.fake, self.database, self.http, self.headers = plant, fake, database, http, headers
        self.now = dt.datetime.now(dt.UTC)

    def gate(self, step: str) -> None:
        anyio_run(self.plant.gate_pass, step)

    def card_fails(self) -> None:
        sub = next(iter(self.fake.subscriptions.values()))
        anyio_run(functools.partial(self.fake.renew, sub["id"], fail=True))

    def days_later(self, days: int) -> None:
        anyio_run(service.sweep, self.database, self.now + dt.timedelta(days=days))

    def add_lane_status(self) -> int:
        async def go() -> int:
            sites = (await self.http.get("/api/v1/sites", headers=self.headers)).json()["items"]
            answer = await self.http.post(
                "/api/v1/sites", json={"name": f"新厂区{sites[0]['id'][:4]}"}, headers=self.headers
            )
            return answer.status_code

        return int(anyio_run(go))


def anyio_run(fn: Any, *args: Any) -> Any:
    from anyio import from_thread  # noqa: PLC0415

    return from_thread.run(fn, *args)


def _stage(page: Any) -> str:
    return str(page.locator("[data-billing=stage]").inner_text()).strip()


def _walk(base: str, tenant: Any, admin_login: str, steps: _Steps) -> None:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            _pages(browser, base, tenant, admin_login, steps)
        finally:
            browser.close()


def _pages(browser: Any, base: str, tenant: Any, admin_login: str, steps: _Steps) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    watch(context)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("登录名").fill(tenant.admin_login)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/portal")

    # Trial.
    page.get_by_role("link", name="账单与发票").click()
    page.wait_for_url(f"{base}/portal/billing")
    assert _stage(page) == "试用中"
    page.get_by_label("发票抬头（单位全称）").fill(tenant.name)
    page.get_by_label("纳税人识别号（税号）").fill("91330108MA2B1234X7")
    page.get_by_role("button", name="保存发票信息").click()
    page.wait_for_url(f"{base}/portal/billing?done=details")
    steps.gate("trial")

    # Checkout → active.
    page.get_by_label("数量（车道数或厂区数）").fill("2")
    page.get_by_role("button", name="选择套餐并支付").click()
    page.wait_for_url("**/checkout/cs_test_*")
    assert "在线支付测试页" in page.content()
    page.get_by_role("button", name="支付").click()
    page.wait_for_url(f"{base}/portal/billing?done=checkout")
    assert _stage(page) == "正常"
    assert page.locator("[data-billing=plan]").inner_text().strip() == "标准版"
    assert page.locator("tr[data-status=paid]").count() == 1
    shot(page, "billing-active")
    steps.gate("active")

    # The renewal's card is declined → past due.
    steps.card_fails()
    page.goto(f"{base}/portal/billing")
    assert _stage(page) == "付款失败"
    assert "付款失败" in page.locator(".alert-banner").inner_text()
    steps.gate("past_due")

    # Days later: grace, then restricted.
    steps.days_later(4)
    page.reload()
    assert _stage(page) == "宽限期"
    assert "宽限期至" in page.locator(".alert-banner").inner_text()
    steps.gate("grace")
    steps.days_later(20)
    page.reload()
    assert _stage(page) == "已受限"
    shot(page, "billing-restricted")
    assert steps.add_lane_status() == 402  # management restricted
    page.get_by_role("link", name="通行台账").click()  # the tenant's own ledger stays open
    page.wait_for_url(f"{base}/portal/ledger**")
    steps.gate("restricted")

    # The platform admin records the bank transfer.
    staff = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    watch(staff)
    admin = staff.new_page()
    admin.goto(f"{base}/staff/login")
    admin.get_by_label("登录名").fill(admin_login)
    admin.get_by_label("密码").fill(PASSWORD)
    admin.get_by_role("button", name="登录").click()
    admin.wait_for_url(f"{base}/admin**")
    admin.get_by_role("link", name="订阅与收费").click()
    admin.wait_for_url(f"{base}/admin/billing")
    assert int(admin.locator("[data-kpi=past-due]").inner_text()) >= 1
    admin.locator("table[aria-label=逾期企业]").get_by_role("link", name=tenant.name).click()
    admin.wait_for_url(f"{base}/admin/billing/tenants/*")
    admin.get_by_label("银行流水号").fill("ICBC-3301-20261207-88")
    admin.get_by_role("button", name="标记对公转账已到账").click()
    admin.wait_for_url("**?done=transfer")
    assert "已登记对公转账" in admin.content()
    assert _stage(admin) == "正常"
    shot(admin, "billing-admin-tenant")
    staff.close()

    page.goto(f"{base}/portal/billing")
    assert _stage(page) == "正常"
    assert page.locator(".alert-banner").count() == 0
    assert "对公转账" in page.locator("table[aria-label=账单列表]").inner_text()
    steps.gate("paid_by_transfer")
    context.close()
    time.sleep(0)  # the walk ends here
