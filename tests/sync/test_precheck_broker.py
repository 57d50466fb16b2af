"""The agent's pre-pass check broker and the protocol pair, without a network (issues 4 and 8).

Old peers keep working: a ``welcome`` without ``features`` (an older cloud) means no check is sent and
the answer is "unavailable" at once; the new messages round-trip; a late answer is dropped; a lost
connection answers every waiting check at once; exits are not asked about.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import msgspec
import pytest

from agent.decision.engine import DecisionEngine, DecisionRequest, DecisionSettings
from agent.sync.precheck import PrecheckBroker
from agent_protocol import messages as msg
from agent_protocol.events import Decision, Direction
from hj1321.plates import PlateColour
from hj1321.rules import UnknownVehicleAction

pytestmark = pytest.mark.anyio

NOW = dt.datetime(2026, 11, 29, 2, 0, tzinfo=dt.UTC)


def _req(direction: Direction = Direction.IN, plate: str = "豫A1234X") -> DecisionRequest:
    return DecisionRequest(
        lane_id="lane-1", direction=direction, moment=NOW, plate=plate, plate_colour=PlateColour.YELLOW
    )


def test_messages_round_trip_and_old_welcome() -> None:
    request = msg.PrecheckRequest(request_id="r1", lane_id="l1", plate="豫A12345", plate_colour="yellow")
    assert msg.decode(msg.encode(request)) == request
    result = msg.PrecheckResult(request_id="r1", verdict="refuse", reason="超标排放车辆", platform_serial="KF1")
    assert msg.decode(msg.encode(result)) == result
    # A welcome written by an older cloud carries no features: the agent sees none.
    old = msgspec.msgpack.encode({"type": "welcome", "v": 1, "server_clock": NOW.isoformat(), "last_stored_seq": 0})
    welcome = msg.decode(old)
    assert isinstance(welcome, msg.Welcome)
    assert msg.FEATURE_PRECHECK not in welcome.features


async def test_answers() -> None:
    broker = PrecheckBroker(budget_s=1.0)
    sent: list[msg.Message] = []
    arrived = asyncio.Event()

    async def send(message: msg.Message) -> None:
        sent.append(message)
        arrived.set()

    # Offline (or an older cloud): unavailable at once, nothing sent.
    offline = await broker.precheck(_req())
    assert offline.allow
    assert offline.code == "regulator_unavailable"

    broker.attach(send)
    task = asyncio.create_task(broker.precheck(_req()))
    await arrived.wait()
    arrived.clear()
    request = sent[-1]
    assert isinstance(request, msg.PrecheckRequest)
    assert request.budget_ms == 1000
    assert request.plate_colour == "yellow"
    broker.resolve(msg.PrecheckResult(request_id=request.request_id, verdict="refuse", reason="超标排放车辆"))
    verdict = await task
    assert not verdict.allow
    assert verdict.code == "regulator_refused"
    assert verdict.message is not None
    assert "超标排放车辆" in verdict.message

    # A late answer (its caller gave up) is dropped and counted.
    broker.resolve(msg.PrecheckResult(request_id="gone", verdict="allow"))
    assert broker.counts["late"] == 1

    # The connection drops while a check waits: answered "unavailable" at once.
    waiting = asyncio.create_task(broker.precheck(_req()))
    await arrived.wait()
    broker.detach()
    dropped = await waiting
    assert dropped.code == "regulator_unavailable"

    # Exits are recorded, not stopped: nothing is asked.
    broker.attach(send)
    exit_verdict = await broker.precheck(_req(Direction.OUT))
    assert exit_verdict.allow
    assert exit_verdict.code is None
    assert len(sent) == 2


async def test_engine_takes_local_decision_when_no_answer_comes() -> None:
    """A cloud that never answers: the engine decides locally after ``precheck_timeout_s``."""
    broker = PrecheckBroker(budget_s=0.2)

    async def send(message: msg.Message) -> None:
        del message  # swallowed: no answer ever comes

    broker.attach(send)
    engine = DecisionEngine(
        settings=DecisionSettings(precheck_timeout_s=0.2, unknown_vehicle=UnknownVehicleAction.ALLOW_FLAG),
        regulator_check=broker.precheck,
    )
    outcome = await engine.decide(_req())
    assert outcome.decision is Decision.ALLOW
    assert "regulator_timeout" in outcome.anomalies
    await asyncio.sleep(0)
    assert broker._pending == {}  # the abandoned request left nothing behind
