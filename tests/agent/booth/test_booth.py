"""Booth UI over real HTTP: sign-in with argon2 PINs, manual release with a reason, manual plate entry,
live lane view (SSE), offline indicator, Problem Details for bad input, and storage failure keeps the barrier shut.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from argon2 import PasswordHasher

from agent.booth.auth import hash_pin
from agent.decision.registry import RegistrySnapshot, RegistryVehicle, save_snapshot
from agent.devices.sim import PtyEndpoint, RelayBarrierSimulator
from agent.runtime.app import Agent
from agent.runtime.config import parse_config
from agent_protocol.events import Decision, ManualReason, TriggerKind
from hj1321.emission import EmissionStage
from hj1321.plates import PlateColour
from hj1321.vehicles import FuelType, VehicleCategory

KNOWN = "鄂A12345"
UNKNOWN = "鄂B54321"
PIN = "4826"


def free_port() -> int:
    """A TCP port free right now on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Booth:
    """The running agent, its barrier simulator, spool and booth URL."""

    agent: Agent
    sim: RelayBarrierSimulator
    spool: Path
    url: str
    task: asyncio.Task[int]

    def feed(self, read_id: str, plate: str, **extra: Any) -> None:
        """Append one read to the lane's spool."""
        line = {"read_id": read_id, "plate": plate, "colour": "yellow", "confidence": 0.97, **extra}
        with self.spool.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")

    async def until(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
        """Wait for ``predicate`` or fail."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                pytest.fail(f"condition not met within {timeout_s} s")
            await asyncio.sleep(0.02)


def agent_config(tmp_path: Path, barrier_port: str, booth_port: int) -> dict[str, Any]:
    """Config mapping: one entry lane, Modbus relay barrier, booth with two guards."""
    seed = tmp_path / "seed.json"
    vehicle = RegistryVehicle(
        registry_id="v1",
        category=VehicleCategory.TRANSPORT,
        plate=KNOWN,
        plate_colour=PlateColour.YELLOW,
        fuel=FuelType.DIESEL,
        emission_stage=EmissionStage("6"),
    )
    save_snapshot(seed, RegistrySnapshot(vehicles=(vehicle,)))
    return {
        "registry_seed": str(seed),
        "agent": {"id": "agent-booth", "data_dir": str(tmp_path / "data")},
        "site": {"id": "site-1", "name": "青山厂区"},
        "booth": {
            "enabled": True,
            "host": "127.0.0.1",
            "port": booth_port,
            "guards": [
                {"name": "张三", "account": "zs001", "pin_hash": hash_pin(PIN)},
                {"name": "李四", "pin_hash": hash_pin("9999")},
            ],
        },
        "devices": {
            "barriers": [
                {"type": "modbus_relay", "name": "east-barrier", "port": barrier_port, "pulse_s": 0.01, "poll_s": 0.2}
            ]
        },
        "lanes": [
            {
                "id": "east-in",
                "name": "东门入口",
                "direction": "in",
                "barrier": "east-barrier",
                "source": {"type": "spool", "path": str(tmp_path / "reads.jsonl"), "poll_s": 0.02},
            }
        ],
        "evidence": {"clip": False},
    }


@pytest.fixture(name="booth")
async def fx_booth(tmp_path: Path) -> AsyncIterator[Booth]:
    """Start the agent with its booth; stop it (SIGTERM path) afterwards."""
    sim = RelayBarrierSimulator(PtyEndpoint(tmp_path / "relay"), travel_s=0.02)
    await sim.start()
    port = free_port()
    cfg = parse_config(agent_config(tmp_path, str(tmp_path / "relay"), port))
    agent = Agent(cfg)
    task = asyncio.create_task(agent.run(install_signals=False))
    url = f"http://127.0.0.1:{port}"
    rig = Booth(agent=agent, sim=sim, spool=tmp_path / "reads.jsonl", url=url, task=task)
    await rig.until(lambda: agent.booth is not None and "east-in" in agent.lanes)
    yield rig
    agent.supervisor.request_stop()
    assert await asyncio.wait_for(task, 10) == 0
    await sim.stop()


@pytest.fixture(name="http")
async def fx_http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client with its own cookie jar (one browser)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


pytestmark = pytest.mark.anyio


async def _login(
    http: aiohttp.ClientSession, booth: Booth, name: str = "张三", pin: str = PIN
) -> aiohttp.ClientResponse:
    return await http.post(f"{booth.url}/api/login", json={"name": name, "pin": pin})


async def _problem(resp: aiohttp.ClientResponse, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = await resp.json()
    assert body["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["detail"])  # a Chinese message
    return body


async def test_page_and_state_are_chinese(booth: Booth, http: aiohttp.ClientSession) -> None:
    page = await http.get(booth.url + "/")
    text = await page.text()
    assert page.status == 200
    assert 'lang="zh-CN"' in text
    assert "人工放行" in text
    state = await (await http.get(booth.url + "/api/state")).json()
    assert state["site"]["name"] == "青山厂区"
    assert state["guards"] == ["张三", "李四"]
    assert state["guard"] is None
    assert state["online"] is False
    assert {r["code"] for r in state["reasons"]} == {r.value for r in ManualReason}
    assert state["lanes"][0]["name"] == "东门入口"
    assert state["lanes"][0]["devices"][0]["name"] == "east-barrier"


async def test_wrong_pin_is_refused_then_the_account_locks(booth: Booth, http: aiohttp.ClientSession) -> None:
    await _problem(await _login(http, booth, pin="0000"), 401, "bad_credentials")
    await _problem(await _login(http, booth, name="王五"), 401, "bad_credentials")
    for _ in range(4):
        await _login(http, booth, pin="1111")
    await _problem(await _login(http, booth), 429, "guard_locked")  # even the right PIN, until the lockout ends
    ok = await _login(http, booth, name="李四", pin="9999")  # other accounts are unaffected
    assert ok.status == 200
    assert (await ok.json())["guard"] == "李四"


async def test_manual_actions_need_a_signed_in_guard(booth: Booth, http: aiohttp.ClientSession) -> None:
    body = {"reason": "device_fault", "text": "道闸遥控失灵"}
    await _problem(await http.post(f"{booth.url}/api/lanes/east-in/release", json=body), 401, "not_signed_in")
    await _problem(await http.post(f"{booth.url}/api/lanes/east-in/plate", json={"plate": KNOWN}), 401, "not_signed_in")
    assert booth.sim.opens == 0
    assert booth.agent.outbox is not None
    assert booth.agent.outbox.events() == []


async def test_bad_input_is_a_problem_with_the_field(booth: Booth, http: aiohttp.ClientSession) -> None:
    assert (await _login(http, booth)).status == 200
    release = f"{booth.url}/api/lanes/east-in/release"
    body = await _problem(await http.post(release, json={"text": "说明"}), 422, "reason_required")
    assert body["errors"][0]["field"] == "reason"
    body = await _problem(await http.post(release, json={"reason": "other"}), 422, "reason_text_required")
    assert body["errors"][0]["field"] == "text"
    await _problem(await http.post(release, json={"reason": "other", "text": " "}), 422, "reason_text_required")
    await _problem(await http.post(release, json={"reason": "bogus", "text": "说明"}), 422, "reason_required")
    await _problem(
        await http.post(release, json={"reason": "other", "text": "说明", "plate": "ABC"}), 422, "plate_invalid"
    )
    await _problem(
        await http.post(release, data="{not json", headers={"Content-Type": "application/json"}), 400, "malformed_json"
    )
    await _problem(await http.post(release, data="reason=other"), 415, "unsupported_media_type")
    await _problem(await http.post(release, json=["x"]), 400, "malformed_json")
    plate = f"{booth.url}/api/lanes/east-in/plate"
    await _problem(await http.post(plate, json={}), 422, "plate_required")
    await _problem(await http.post(plate, json={"plate": KNOWN, "colour": "pink"}), 422, "colour_invalid")
    await _problem(await http.post(plate, json={"plate": KNOWN, "cargo": "煤" * 65}), 422, "cargo_invalid")
    await _problem(await http.post(f"{booth.url}/api/lanes/nope/plate", json={"plate": KNOWN}), 404, "lane_not_found")
    await _problem(await http.get(f"{booth.url}/api/blobs/{'0' * 64}"), 404, "blob_not_found")
    await _problem(await http.get(f"{booth.url}/nowhere"), 404, "not_found")
    assert booth.sim.opens == 0
    assert booth.agent.outbox is not None
    assert booth.agent.outbox.events() == []  # nothing half-written


async def _next_event(stream: aiohttp.ClientResponse, kind: str, timeout_s: float = 5.0) -> dict[str, Any]:
    current = ""
    async with asyncio.timeout(timeout_s):
        while True:
            line = (await stream.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                current = line.removeprefix("event: ")
            elif line.startswith("data: ") and current == kind:
                data: dict[str, Any] = json.loads(line.removeprefix("data: "))
                return data


async def test_refused_vehicle_then_manual_release_with_reason(booth: Booth, http: aiohttp.ClientSession) -> None:
    stream = await http.get(f"{booth.url}/api/stream")
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    status = await _next_event(stream, "status")
    assert status["online"] is False

    booth.feed("r1", UNKNOWN, photo_size=2048)
    lane = await _next_event(stream, "lane")
    refused = lane["event"]
    assert refused["decision"] == "refuse"
    assert refused["plate"] == UNKNOWN
    assert lane["prompt_guard"] is True
    assert lane["barrier_opened"] is False
    assert lane["lane"]["last"]["event_id"] == refused["event_id"]
    photo = await http.get(booth.url + refused["photos"][0]["url"])
    assert photo.status == 200
    assert len(await photo.read()) == 2048
    assert booth.sim.opens == 0  # a refused vehicle never gets an open command

    assert (await _login(http, booth)).status == 200
    resp = await http.post(
        f"{booth.url}/api/lanes/east-in/release",
        json={
            "reason": "registry_outdated",
            "text": "新车辆，台账未同步，已电话确认",
            "cargo": "石灰石",
            "confirm_plate": True,  # the guard confirms the refused read's plate (issue 15)
        },
    )
    assert resp.status == 201, await resp.text()
    released = (await resp.json())["event"]
    assert released["trigger"] == "manual_release"
    assert released["operator"] == "张三"
    assert (released["operator_account"], released["channel"], released["plate_source"]) == (
        "zs001",
        "booth",
        "confirmed",
    )
    assert released["reason_label"] == "台账信息未同步"
    assert released["related_event_id"] == refused["event_id"]
    assert released["plate"] == UNKNOWN
    pushed = await _next_event(stream, "lane")
    assert pushed["event"]["event_id"] == released["event_id"]
    assert pushed["barrier_opened"] is True
    await booth.until(lambda: booth.sim.opens == 1)

    assert booth.agent.outbox is not None
    stored = booth.agent.outbox.get(released["event_id"])
    assert stored is not None
    assert stored.decision is Decision.ALLOW
    assert stored.trigger.kind is TriggerKind.MANUAL_RELEASE
    assert stored.trigger.reason_code is ManualReason.REGISTRY_OUTDATED
    assert stored.trigger.reason_text == "新车辆，台账未同步，已电话确认"
    assert stored.cargo == "石灰石"
    assert stored.evidence.snapshots == booth.agent.outbox.get(refused["event_id"]).evidence.snapshots  # type: ignore[union-attr]
    journal = (booth.agent.data / "barrier-commands.log").read_text().splitlines()
    assert {json.loads(x)["event_id"] for x in journal} == {released["event_id"]}  # open (+ its confirmation)
    stream.close()


async def test_release_files_only_the_plate_the_guard_typed_or_confirmed(
    booth: Booth, http: aiohttp.ClientSession
) -> None:
    """Issue 15: a release without a typed or confirmed plate never inherits the previous refused plate."""
    stream = await http.get(f"{booth.url}/api/stream")
    booth.feed("r1", UNKNOWN)
    refused = (await _next_event(stream, "lane"))["event"]
    assert refused["decision"] == "refuse"
    assert (await _login(http, booth)).status == 200
    release = f"{booth.url}/api/lanes/east-in/release"
    bad = await http.post(release, json={"reason": "other", "text": "车牌看不清", "plate": "鄂AI2345"})
    problem = await _problem(bad, 422, "plate_invalid")
    assert "鄂AI2345" in problem["detail"]
    assert problem["errors"][0]["field"] == "plate"
    resp = await http.post(release, json={"reason": "plate_unreadable", "text": "车牌污损，人工放行"})
    assert resp.status == 201, await resp.text()
    anonymous = (await resp.json())["event"]
    assert (anonymous["plate"], anonymous["related_event_id"], anonymous["plate_source"]) == (None, None, "none")
    resp = await http.post(
        release, json={"reason": "plate_unreadable", "text": "核对行驶证后放行", "plate": "鄂a-7m416"}
    )
    assert resp.status == 201, await resp.text()
    typed = (await resp.json())["event"]
    assert (typed["plate"], typed["plate_source"], typed["operator"]) == ("鄂A7M416", "typed", "张三")
    assert booth.agent.outbox is not None
    assert [e.plate for e in booth.agent.outbox.events()] == [UNKNOWN, None, "鄂A7M416"]
    stream.close()


async def test_manual_plate_entry_is_decided_normally(booth: Booth, http: aiohttp.ClientSession) -> None:
    assert (await _login(http, booth)).status == 200
    url = f"{booth.url}/api/lanes/east-in/plate"
    refused = await http.post(url, json={"plate": UNKNOWN.lower(), "colour": "yellow"})
    assert refused.status == 201
    body = await refused.json()
    assert body["event"]["decision"] == "refuse"
    assert body["event"]["trigger"] == "manual_entry"
    assert body["barrier_opened"] is False
    allowed = await http.post(url, json={"plate": f" {KNOWN} ", "colour": "yellow", "cargo": "煤炭"})
    assert allowed.status == 201
    event = (await allowed.json())["event"]
    assert event["decision"] == "allow"
    assert event["operator"] == "张三"
    assert event["related_event_id"] == body["event"]["event_id"]
    await booth.until(lambda: booth.sim.opens == 1)
    assert booth.agent.outbox is not None
    assert [e.trigger.kind for e in booth.agent.outbox.events()] == [TriggerKind.MANUAL_ENTRY] * 2


async def test_offline_indicator_follows_the_agent(booth: Booth, http: aiohttp.ClientSession) -> None:
    stream = await http.get(f"{booth.url}/api/stream")
    assert (await _next_event(stream, "status"))["online"] is False
    booth.agent.online = lambda: True
    assert (await _next_event(stream, "status"))["online"] is True
    assert (await (await http.get(booth.url + "/api/state")).json())["online"] is True
    stream.close()


async def test_logout_ends_the_session(booth: Booth, http: aiohttp.ClientSession) -> None:
    assert (await _login(http, booth)).status == 200
    assert (await (await http.get(booth.url + "/api/state")).json())["guard"] == "张三"
    await http.post(booth.url + "/api/logout", json={})
    await _problem(await http.post(f"{booth.url}/api/lanes/east-in/plate", json={"plate": KNOWN}), 401, "not_signed_in")


async def test_full_disk_keeps_the_barrier_shut_and_says_so(booth: Booth, http: aiohttp.ClientSession) -> None:
    outbox = booth.agent.outbox
    assert outbox is not None
    pages = outbox._db.execute("PRAGMA page_count").fetchone()[0]
    outbox._db.execute(f"PRAGMA max_page_count = {pages + 2}")
    assert (await _login(http, booth)).status == 200
    stored = 0
    for _ in range(300):
        resp = await http.post(
            f"{booth.url}/api/lanes/east-in/release",
            json={"reason": "device_fault", "text": "摄像机故障，人工核实" * 20},
        )
        if resp.status != 201:
            break
        stored += 1
    await _problem(resp, 503, "outbox_unavailable")
    await asyncio.sleep(0.3)
    # Every release that was answered 201 is on disk and opened the barrier; the refused one opened nothing.
    assert len(outbox.events(limit=10_000)) == stored
    await booth.until(lambda: booth.sim.opens == stored)
    assert any(a.code == "outbox_full" for a in booth.agent.alarms)
    state = await (await http.get(booth.url + "/api/state")).json()
    assert any(a["code"] == "outbox_full" for a in state["alarms"])


def test_hash_pin_cli() -> None:
    run = [sys.executable, "-c", "import sys; from agent.cli import main; sys.exit(main(sys.argv[1:]))", "hash-pin"]
    out = subprocess.run([*run, "2468"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert PasswordHasher().verify(out.stdout.strip(), "2468")
    piped = subprocess.run(run, input="13579\n", capture_output=True, text=True, check=False)
    assert piped.returncode == 0
    assert PasswordHasher().verify(piped.stdout.strip(), "13579")
    bad = subprocess.run([*run, "12"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert "PIN" in bad.stderr
