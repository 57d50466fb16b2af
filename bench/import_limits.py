"""Hostile import files against a real cloud process: time to refusal and /health latency meanwhile (issue 17).

Starts an embedded PostgreSQL and ``ecogate cloud serve`` (uvicorn, one process) on loopback, signs in
as a tenant administrator and sends each file to ``POST /api/v1/compliance/blacklist/import`` while a
second client polls ``/health`` every 10 ms. Prints, per file, the time until the answer (422
``import_too_large``, or 413 ``request_too_large`` for a body past the route's limit) and the /health latencies during it, beside the same-run baseline:
/health latency with no import running (after one small warm-up import). Acceptance: refusal < 1 s,
/health < 100 ms (max).

    .venv/bin/python bench/import_limits.py [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from infra.pg import EmbeddedPostgres  # noqa: E402
from tests.security.hostile_files import large_csv, many_rows_xlsx  # noqa: E402

PASSWORD = "Bench-import-limits-1"
FILES: dict[str, Callable[[], bytes]] = {
    "300k-row xlsx (identical rows)": lambda: many_rows_xlsx(300_000),
    "300k-row xlsx (distinct, no dimension)": lambda: many_rows_xlsx(300_000, dimension=False, distinct=True),
    "16 MB CSV (past the 10 MB body limit)": large_csv,
    "9.9 MB CSV (read until the row cap)": lambda: large_csv(int(9.9 * 1024 * 1024)),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _tenant_admin(urls: Any) -> str:
    from cloud.auth.passwords import hash_password  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import DatabaseSettings  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415
    from tenants.onboarding import AccountSpec, TenantSpec, onboard_tenant  # noqa: PLC0415

    database = Database.from_settings(
        DatabaseSettings(app_url=urls.app_url, owner_url=urls.owner_url, regulator_url=urls.regulator_url, pool_size=2)
    )
    suffix = uuid.uuid4().hex[:8]
    login = f"bench-{suffix}"
    try:
        await onboard_tenant(
            database.session,
            TenantSpec(
                name=f"导入限额压测企业{suffix}",
                uscc=f"9142{suffix.upper()}000001"[:18],
                industry="steel",
                region_code="420102",
                grade="B",
            ),
            AccountSpec(login=login, display_name="管理员", password_hash=hash_password(PASSWORD)),
            Principal(user_id=uuid.UUID(int=1), role=Role.PLATFORM_ADMIN, login="bench-platform"),
        )
    finally:
        await database.dispose()
    return login


async def _probe_health(client: httpx.AsyncClient, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        response = await client.get("/health")
        response.raise_for_status()
        out.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.01)


def _stats(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1) if ordered else float("nan"),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1) if ordered else float("nan"),
        "max_ms": round(ordered[-1], 1) if ordered else float("nan"),
    }


async def _measure(base: str, token: str, repeat: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=base, timeout=120) as probe,
        httpx.AsyncClient(base_url=base, timeout=120) as up,
    ):
        baseline: list[float] = []
        stop = asyncio.Event()
        task = asyncio.create_task(_probe_health(probe, stop, baseline))
        await asyncio.sleep(2.0)
        stop.set()
        await task
        results["baseline /health (no import)"] = _stats(baseline)
        # Warm-up: a small honest dry-run import, so the first figure is not the first import of openpyxl.
        warm = await up.post(
            "/api/v1/compliance/blacklist/import",
            headers=headers,
            data={"dry_run": "true"},
            files={"file": ("warm.xlsx", many_rows_xlsx(3, distinct=True), "application/octet-stream")},
        )
        warm.raise_for_status()
        for name, build in FILES.items():
            data = build()
            for run in range(repeat):
                latencies: list[float] = []
                stop = asyncio.Event()
                task = asyncio.create_task(_probe_health(probe, stop, latencies))
                await asyncio.sleep(0.05)
                started = time.perf_counter()
                response = await up.post(
                    "/api/v1/compliance/blacklist/import",
                    headers=headers,
                    files={"file": (name, data, "application/octet-stream")},
                )
                elapsed = time.perf_counter() - started
                stop.set()
                await task
                results[f"{name} #{run + 1}"] = {
                    "bytes": len(data),
                    "status": response.status_code,
                    "code": response.json().get("code"),
                    "refused_s": round(elapsed, 3),
                    "health_during": _stats(latencies),
                }
    return results


async def _main(args: argparse.Namespace) -> int:
    from cloud.db.migrate import upgrade  # noqa: PLC0415
    from tenants.bootstrap import bootstrap_database  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="ecogate-import-limits-") as tmp:
        server = await asyncio.to_thread(EmbeddedPostgres(Path(tmp) / "pg").start)
        proc: subprocess.Popen[bytes] | None = None
        try:
            urls = await bootstrap_database(server.admin_url, "ecogate_import_limits", recreate=True)
            await asyncio.to_thread(upgrade, urls.owner_url)
            login = await _tenant_admin(urls)
            port = _free_port()
            env = {
                **os.environ,
                "DATABASE_APP_URL": urls.app_url,
                "DATABASE_OWNER_URL": urls.owner_url,
                "DATABASE_REGULATOR_URL": urls.regulator_url,
                "ECOGATE_ENV": "development",
                "ECOGATE_SESSION_SECRET": "import-limits-bench-" + uuid.uuid4().hex * 2,
                "ECOGATE_BLOB_ROOT": str(Path(tmp) / "blobs"),
                "ECOGATE_DATA_DIR": tmp,
                "ECOGATE_LOG_LEVEL": "warning",
            }
            with (Path(tmp) / "cloud.log").open("ab") as log:
                proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any measurement
                    [sys.executable, "-m", "ecogate_cli", "cloud", "serve", "--no-migrate", "--port", str(port)],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                for _ in range(600):
                    try:
                        if (await client.get("/health")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if proc.poll() is not None:
                        sys.stderr.write((Path(tmp) / "cloud.log").read_text(errors="replace")[-3000:])
                        return 1
                    await asyncio.sleep(0.1)
                signed = await client.post("/api/v1/auth/login", json={"login": login, "password": PASSWORD})
                signed.raise_for_status()
                token = signed.json()["token"]
            results = await _measure(base, token, args.repeat)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=20)
            server.stop()
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for name, figures in results.items():
            print(f"{name:48s} {json.dumps(figures, ensure_ascii=False)}")
    return 0


def main() -> int:
    """Parse the arguments and run the bench."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="uploads of each file")
    parser.add_argument("--json", action="store_true")
    return asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
