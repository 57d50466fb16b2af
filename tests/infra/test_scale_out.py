"""Three cloud replicas behind HAProxy, one SIGKILLed under load (issue 20; CI size of bench/scale_out.py).

Real processes over real TCP: HAProxy from Debian (infra/sysdeps.sh), three ``ecogate cloud serve``
on one embedded PostgreSQL of the test's own with a streaming standby serving the regulator, 20
simulated agents speaking the real protocol through the balancer, API/portal clients at the same
time. The replica holding the most agents is killed: its agents reconnect through the balancer to the
others, no pass is lost or doubled (ledger rows against the event ids sent), and commands issued on
one replica reach agents held by another before and after the kill (LISTEN/NOTIFY, ADR 0008).
Timing figures belong to the bench; the limits here only catch a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from infra.pg import EmbeddedPostgres
from infra.replica import StreamingReplica

pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("scale_out")]
ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


scale = _load("_bench_scale_out_ci", ROOT / "bench" / "scale_out.py")


@pytest.fixture(name="cluster")
async def fx_cluster() -> AsyncIterator[tuple[Path, str, Any, str]]:
    """Work folder, superuser DSN of the migrated database, role URLs, the standby's URL."""
    from cloud.db.migrate import upgrade_async  # noqa: PLC0415
    from tenants.bootstrap import bootstrap_database  # noqa: PLC0415

    folder = Path(tempfile.mkdtemp(prefix="ecogate-scale-out-test-"))
    primary = await asyncio.to_thread(EmbeddedPostgres(folder / "primary").start)
    standby = StreamingReplica(primary, folder / "standby")
    try:
        await asyncio.to_thread(standby.start)
        urls = await bootstrap_database(primary.admin_url, "ecogate_scale_out", recreate=True)
        await upgrade_async(urls.owner_url)
        dsn = scale.superuser_dsn(primary.admin_url, urls.app_url)
        yield folder, dsn, urls, f"postgresql://127.0.0.1:{standby.port}"
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(standby.stop)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(primary.stop)
        shutil.rmtree(folder, ignore_errors=True)


async def test_three_replicas_one_killed_nothing_lost_commands_cross(cluster: tuple[Path, str, Any, str]) -> None:
    folder, dsn, urls, replica_url = cluster
    opts = scale.Options(agents=20, replicas=3, seconds=12.0, rate=1.0, api_clients=4, pool=3, commands_per_replica=3)
    opts.replica_url = replica_url
    result = await scale.run(opts, urls, dsn, folder / "run", "scale-out")
    print(result)  # noqa: T201 - the figures of this run, for the CI log

    # Nothing lost, nothing doubled, nothing foreign: ledger rows by event id against what was sent.
    assert result["sent"] == 20 * 12
    assert (result["lost"], result["duplicated"], result["unexpected"]) == (0, 0, 0)
    # The killed replica held agents; every one of them came back through the balancer, on another replica.
    assert result["killed_held_agents"] > 0
    assert result["reconnected"] == result["killed_held_agents"]
    assert result["landed_on_victim"] == 0
    assert result["spread_after"].get(result["killed"], 0) == 0
    # Commands issued on one replica reached agents held by another, before and after the kill.
    for phase in ("commands_before", "commands_after"):
        assert result[phase]["issued"] > 0, phase
        assert result[phase]["delivered"] == result[phase]["issued"], phase
    # The API and portal answered under load (through the balancer; the regulator's reads on the standby).
    assert result["api_requests"] > 0
    assert "replay_lag_p95_ms" in result
    assert result["replica_xacts"] > 0  # the standby served reads (the regulator clients' pool)
