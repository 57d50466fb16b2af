"""The agent's Prometheus metrics move with what really happens at the gate (issue 21).

The running agent with simulated devices on real ptys (the gate-flow test's site: a Modbus relay
barrier, an XK3190 weighbridge, spool lanes): reads per lane and decision, barrier commands confirmed
beside the relay simulator's count, a failed command when the barrier's port vanishes (and the device
state turning to fault), the outbox gauges and the weighbridge's state from the sampler, all read back
through the agent's own HTTP endpoint.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.ops import metrics as gate_metrics
from bench.metrics_scrape import Scrape, delta, scrape, scrape_registry, total
from tests.agent.runtime.test_gate_flow import STRANGER, TRUCK, Site, until

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(name="endpoint", scope="module")
def fx_endpoint() -> str:
    port = _free_port()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECOGATE_AGENT_METRICS_PORT", str(port))
        assert gate_metrics.start_server() == port
    return f"http://127.0.0.1:{port}/metrics"


@pytest.fixture(name="site")
async def fx_site(tmp_path: Path) -> AsyncIterator[Site]:
    site = Site(tmp_path)
    site.raw["lanes"][0]["weigh_wait_s"] = 0.0
    await site.relay.start()
    await site.scale.start()
    yield site
    await site.scale.stop()
    await site.relay.stop()


async def _scrape(endpoint: str) -> Scrape:
    return await asyncio.to_thread(scrape, endpoint)


async def test_gate_metrics_follow_reads_openings_failures_and_devices(site: Site, endpoint: str) -> None:
    commands = "ecogate_gate_barrier_commands_total"
    before = await _scrape(endpoint)
    async with site.agent() as agent:
        sampler = asyncio.create_task(gate_metrics.sample_forever(agent, every_s=0.1))
        try:
            site.feed("gate-in", "m-1", TRUCK)
            site.feed("gate-in", "m-2", STRANGER)
            await until(lambda: site.relay.opens == 1)
            await until(lambda: agent.outbox is not None and agent.outbox.stats().queue_depth == 2)
            await asyncio.sleep(0.4)  # a sampler round
            now = delta(before, await _scrape(endpoint))
            assert total(now, commands, lane="gate-in", outcome="confirmed") == site.relay.opens == 1
            assert total(now, commands, outcome="failed") == 0
            assert total(now, "ecogate_gate_reads_total", lane="gate-in", decision="allow", read="plate") == 1
            assert total(now, "ecogate_gate_reads_total", lane="gate-in", decision="refuse", read="plate") == 1
            absolute = await _scrape(endpoint)
            assert total(absolute, "ecogate_gate_outbox_depth") == 2  # no cloud: nothing acked
            assert total(absolute, "ecogate_gate_oldest_unsent_seconds") >= 0
            assert total(absolute, "ecogate_gate_disk_free_bytes") > 0
            assert total(absolute, "ecogate_gate_cloud_connected") == 0
            scale = {"device": "scale", "kind": "weighbridge"}
            await until(lambda: total(gate_metrics_now(), "ecogate_gate_device_state", state="ok", **scale) == 1)

            # The barrier's port vanishes: the pass is kept, the command fails, the device shows a fault.
            await site.relay.vanish()
            site.feed("gate-in", "m-3", TRUCK)
            await until(lambda: any(a.code == "barrier_fault" for a in agent.alarms))
            after = delta(before, await _scrape(endpoint))
            assert total(after, commands, lane="gate-in", outcome="failed") == 1
            assert total(after, commands, lane="gate-in", outcome="confirmed") == 1
            barrier = {"device": "in-barrier", "kind": "barrier"}
            await until(
                lambda: total(gate_metrics_now(), "ecogate_gate_device_state", state="ok", **barrier) == 0,
                timeout_s=30,
            )
            await site.relay.restore()
        finally:
            await gate_metrics.stop_sampler(sampler)


def gate_metrics_now() -> Scrape:
    """The agent's registry as its endpoint serves it (for polling from the event loop)."""
    return scrape_registry(gate_metrics.REGISTRY)
