"""Background jobs in PostgreSQL (issue 20, ADR 0031) and exports of any size (issue 19 item 6).

* a large export (small thresholds here; bench/export_big.py runs 60,000 rows) is refused as a download and
  runs as a job: 202 with the job's URL, progress, the file from the blob store with every row;
* a PDF above its limit fails with a Chinese message that suggests Excel;
* leases: a second runner takes over a job whose runner stopped renewing, the first one's late writes are
  fenced off; a stopping runner hands its job back at once;
* the acceptance test: two real cloud processes on an S3 bucket (moto's server over TCP); the one running the
  job is killed with SIGKILL mid-job, the other takes it over after the lease and finishes it; the file is
  an object in the bucket.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import importlib.util
import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from openpyxl import load_workbook

from cloud import jobs, retention
from cloud.blobs import FileBlobStore
from cloud.db import models as m
from cloud.db.engine import Database
from cloud.reports import exports
from cloud.reports.periods import parse_period
from cloud.settings import JobSettings, Settings
from hj1321.identifiers import vin_check_digit
from tenants.context import Principal, Role
from tests.cloud.api.test_vehicles import PNG, transport
from tests.cloud.s3_kit import CREDENTIALS, S3Server, moto_s3

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# The report fixtures make a tenant with three months of passes through the ledger's write path.
_reports = _load("_jobs_reports_conftest", ROOT / "tests" / "reports" / "conftest.py")
fx_make_ledger = _reports.fx_make_ledger
MONTH = {"period": "month", "date": "2026-09"}


@pytest.fixture(name="settings")
def fx_job_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The in-process app runs no job runner here (the tests run their own) unless asked (``app_runner``)."""
    if getattr(request, "param", None) == "app_runner":
        return settings
    return dataclasses.replace(settings, jobs=dataclasses.replace(settings.jobs, runners=0))


async def _poll(client: Any, url: str, headers: dict[str, str], limit_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + limit_s
    while True:
        job: dict[str, Any] = (await client.get(url, headers=headers)).json()
        if job["status"] in {"done", "failed"} or time.monotonic() > deadline:
            return job
        await asyncio.sleep(0.1)


def _xlsx_rows(content: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    return [list(r) for r in sheet.iter_rows(values_only=True)][5:]  # 4 title lines and the header


@pytest.mark.parametrize("settings", ["app_runner"], indirect=True)
async def test_a_large_export_runs_as_a_job_with_progress_and_a_download(
    client: Any, make_ledger: Any, monkeypatch: pytest.MonkeyPatch, app: Any, database: Database
) -> None:
    ledger = await make_ledger(seed=3, per_day=6)
    api = (
        await client.get(
            ledger.url("reports/ledgers/transport_passes"), params={**MONTH, "limit": 500}, headers=ledger.headers
        )
    ).json()
    total = api["total"]
    assert total > 40
    monkeypatch.setitem(exports.SYNC_MAX_ROWS, "xlsx", 20)  # the 20,000 of production, scaled down
    refused = await client.get(
        ledger.url("reports/ledgers/transport_passes/export"),
        params={**MONTH, "format": "xlsx"},
        headers=ledger.headers,
    )
    assert refused.status_code == 413
    assert "后台导出" in refused.json()["detail"]

    created = await client.post(
        ledger.url("reports/exports"),
        json={"report": "transport_passes", "format": "xlsx", **MONTH},
        headers=ledger.headers,
    )
    assert created.status_code == 202, created.text
    location = created.headers["location"]
    assert location == created.json()["href"]
    job = await _poll(client, location, ledger.headers)
    assert job["status"] == "done", job
    assert (job["progress"], job["rows"]) == (100, total)
    file = await client.get(job["file_href"], headers=ledger.headers)
    assert file.status_code == 200
    rows = _xlsx_rows(file.content)
    assert len(rows) == total
    keys = [c["key"] for c in api["columns"]]
    assert [r[keys.index("plate")] for r in rows] == [r["plate"] for r in api["rows"]]
    # The file is in the blob store, recorded as the tenant's blob.
    store = app.state.blobs
    assert isinstance(store, FileBlobStore)
    assert any(store.root.rglob("*")), "the result is a blob"

    # Retention of job files: kept 7 days after the job finished, then expired (row kept, file deleted, 410).
    sha = await _result_sha(database, ledger.tenant_id, job["id"])
    finished = dt.datetime.now(dt.UTC)
    fresh = await retention.expire_job_files(database, store, ledger.tenant_id, finished + dt.timedelta(days=6))
    assert fresh.jobs_expired == 0
    assert store.has(sha)
    assert (await client.get(job["file_href"], headers=ledger.headers)).status_code == 200
    old = await retention.expire_job_files(database, store, ledger.tenant_id, finished + dt.timedelta(days=8))
    assert (old.jobs_expired, old.job_files_deleted) == (1, 1)
    assert not store.has(sha)
    expired = (await client.get(location, headers=ledger.headers)).json()
    assert (expired["status"], expired["file_href"]) == ("expired", None)
    gone = await client.get(job["file_href"], headers=ledger.headers)
    assert gone.status_code == 410
    assert gone.headers["content-type"].startswith("application/problem+json")
    assert (gone.json()["code"], gone.json()["detail"]) == ("export_expired", "导出文件已过期，请重新导出")
    again = await retention.expire_job_files(database, store, ledger.tenant_id, finished + dt.timedelta(days=9))
    assert again.jobs_expired == 0


async def _result_sha(database: Database, tenant_id: uuid.UUID, job_id: str) -> str:
    principal = Principal(uuid.UUID(int=5), Role.TENANT_ADMIN, tenant_id, login="exporter")
    async with database.session(principal) as session, session.begin():
        job = await session.get(m.BackgroundJob, (tenant_id, uuid.UUID(job_id)))
        assert job is not None
        assert job.result_sha256 is not None
        return job.result_sha256


async def test_a_job_streams_in_chunks_and_reports_progress(
    database: Database, make_ledger: Any, settings: Settings, superuser_url: str
) -> None:
    """The handler itself, with 25-row chunks: progress rises chunk by chunk, CSV has every row."""
    ledger = await make_ledger(seed=5, per_day=4)
    principal = Principal(uuid.UUID(int=5), Role.TENANT_ADMIN, ledger.tenant_id, login="exporter")
    async with database.session(principal) as session, session.begin():
        job = await exports.create_job(
            session,
            principal,
            ledger.tenant_id,
            "transport_passes",
            "csv",
            parse_period("month", "2026-09", None, None),
        )
    seen: list[int] = []
    store = FileBlobStore(settings.blobs.root)
    runner = jobs.JobRunner(database, store, {exports.JOB_KIND: exports.run_export}, JobSettings(chunk_rows=25))

    async def watch() -> None:
        conn = await asyncpg.connect(superuser_url)
        try:
            while True:
                seen.append(await conn.fetchval("SELECT progress FROM background_job WHERE id = $1", job.id))
                await asyncio.sleep(0.01)
        finally:
            await conn.close()

    watcher = asyncio.create_task(watch())
    try:
        while not await runner.run_once() or runner.stats.done == 0:
            pass
    finally:
        watcher.cancel()
    async with database.session(principal) as session, session.begin():
        done = await exports.get_job(session, ledger.tenant_id, job.id)
    assert (done.status, done.progress, done.attempts) == ("done", 100, 1)
    assert done.result_filename is not None
    assert done.result_filename.endswith(".csv")
    lines = store.get(done.result_sha256 or "").decode("utf-8-sig").splitlines()
    assert len(lines) - 1 == done.result_rows
    assert done.result_rows is not None
    assert done.result_rows > 50
    assert len({p for p in seen if 0 < p < 100}) >= 2, seen  # progress moved chunk by chunk


async def test_a_huge_pdf_is_refused_with_a_chinese_hint_to_use_excel(
    database: Database, make_ledger: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = await make_ledger(seed=6, per_day=4)
    monkeypatch.setattr(exports, "PDF_MAX_ROWS", 10)
    principal = Principal(uuid.UUID(int=6), Role.TENANT_ADMIN, ledger.tenant_id, login="exporter")
    async with database.session(principal) as session, session.begin():
        job = await exports.create_job(
            session,
            principal,
            ledger.tenant_id,
            "transport_passes",
            "pdf",
            parse_period("month", "2026-09", None, None),
        )
    runner = jobs.JobRunner(database, FileBlobStore(settings.blobs.root), {exports.JOB_KIND: exports.run_export})
    while runner.stats.failed == 0:
        assert await runner.run_once()
    async with database.session(principal) as session, session.begin():
        failed = await exports.get_job(session, ledger.tenant_id, job.id)
    assert failed.status == "failed"
    assert "Excel" in (failed.error or "")
    assert "PDF" in (failed.error or "")


async def _slow(ctx: jobs.JobContext) -> jobs.JobResult:
    """A job kind for the lease tests: ten progress steps with the configured pause between them."""
    for step in range(1, 11):
        await ctx.progress(step * 9)
        await ctx.pause()
    return jobs.JobResult(f"done by {ctx.job.id}".encode(), "slow.txt", "text/plain", 10)


async def _queue_slow(database: Database, tenant_id: uuid.UUID) -> m.BackgroundJob:
    principal = Principal(uuid.UUID(int=7), Role.TENANT_ADMIN, tenant_id, login="lease-test")
    async with database.session(principal) as session, session.begin():
        return await jobs.enqueue(session, principal, tenant_id, "lease_test", {}, audit_action="test.job")


async def _row(superuser_url: str, job_id: uuid.UUID) -> asyncpg.Record:
    conn = await asyncpg.connect(superuser_url)
    try:
        row = await conn.fetchrow("SELECT * FROM background_job WHERE id = $1", job_id)
    finally:
        await conn.close()
    assert row is not None
    return row


async def test_a_stalled_runner_loses_its_job_to_another_and_its_late_writes_are_fenced(
    database: Database, make_tenant: Any, settings: Settings, superuser_url: str
) -> None:
    tenant = await make_tenant()
    job = await _queue_slow(database, tenant.tenant_id)
    store = FileBlobStore(settings.blobs.root)
    fast = JobSettings(lease_s=1.0, chunk_pause_s=0.05)
    first = jobs.JobRunner(database, store, {"lease_test": _slow}, fast, name="first")
    # The first runner claims, then stalls (a frozen replica): no renewals while its lease runs out.
    claimed = await first._claim(tenant.tenant_id)
    assert claimed is not None
    claim, _ = claimed
    await asyncio.sleep(1.5)
    second = jobs.JobRunner(database, store, {"lease_test": _slow}, fast, name="second")
    assert await second.run_once()
    row = await _row(superuser_url, job.id)
    assert (row["status"], row["attempts"], row["progress"]) == ("done", 2, 100)
    assert store.get(row["result_sha256"]) == f"done by {job.id}".encode()
    # The first runner wakes up: every write of its stale claim is refused.
    keys = {"tenant_id": tenant.tenant_id, "id": job.id, "claim": claim}
    assert not await first._settle(keys, "failed", error="late")
    assert (await _row(superuser_url, job.id))["status"] == "done"


async def test_a_stopping_runner_hands_its_job_back(
    database: Database, make_tenant: Any, settings: Settings, superuser_url: str
) -> None:
    tenant = await make_tenant()
    job = await _queue_slow(database, tenant.tenant_id)
    runner = jobs.JobRunner(
        database, FileBlobStore(settings.blobs.root), {"lease_test": _slow}, JobSettings(chunk_pause_s=0.5)
    )
    task = asyncio.create_task(runner.run_once())
    deadline = time.monotonic() + 60
    while (await _row(superuser_url, job.id))["progress"] == 0:  # the job is under way
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    row = await _row(superuser_url, job.id)
    assert (row["status"], row["claimed_by"], row["lease_until"]) == ("queued", None, None)
    # A runner without the kind's handler (an older replica in a rolling upgrade) leaves it alone; one with it
    # takes it at once (no lease to wait for) and finishes it.
    older = jobs.JobRunner(database, FileBlobStore(settings.blobs.root), {"other_kind": _slow}, JobSettings())
    assert not await older.run_once()
    other = jobs.JobRunner(database, FileBlobStore(settings.blobs.root), {"lease_test": _slow}, JobSettings())
    assert await other.run_once()
    assert (await _row(superuser_url, job.id))["status"] == "done"


# The acceptance test: replicas on an S3 bucket, one killed mid-job ------------------------------------------


@pytest.fixture(name="s3")
def fx_s3() -> Iterator[S3Server]:
    with moto_s3() as server:
        yield server


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica:
    """``ecogate cloud serve`` in a subprocess: one replica of the cloud."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = _free_port()
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ecogate_cli", "cloud", "serve", "--no-migrate", "--port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cloud exited: {self.log_path.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("cloud did not start")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.mark.slow
async def test_an_export_job_and_a_blob_survive_the_kill_of_their_replica_on_the_s3_backend(
    db_urls: Any, settings: Settings, make_ledger: Any, s3: S3Server, superuser_url: str, tmp_path: Path
) -> None:
    ledger = await make_ledger(seed=8, per_day=4)
    bucket = s3.new_bucket()
    env = {
        **os.environ,
        **CREDENTIALS,
        "ECOGATE_ENV": "development",
        "DATABASE_APP_URL": db_urls.app_url,
        "DATABASE_OWNER_URL": db_urls.owner_url,
        "DATABASE_REGULATOR_URL": db_urls.regulator_url,
        "DATABASE_POOL_SIZE": "3",
        "ECOGATE_SESSION_SECRET": settings.auth.session_secret,
        "ECOGATE_DATA_DIR": str(tmp_path),
        "ECOGATE_BLOB_URL": s3.url(bucket, "replicas"),
        "ECOGATE_JOB_LEASE_S": "3",
        "ECOGATE_JOB_POLL_S": "0.2",
    }
    # The first replica is slow (a 1 s pause per 2-row chunk: about a minute for the month) so that it is surely
    # killed mid-job, even on a loaded machine; the second one runs at full speed.
    first = Replica({**env, "ECOGATE_JOB_CHUNK_ROWS": "2", "ECOGATE_JOB_CHUNK_PAUSE_S": "1"}, tmp_path / "first.log")
    second = Replica({**env, "ECOGATE_JOB_CHUNK_ROWS": "20", "ECOGATE_JOB_CHUNK_PAUSE_S": "0"}, tmp_path / "second.log")
    try:
        first.start()
        async with httpx.AsyncClient(base_url=first.base, timeout=30) as one:
            # A blob stored through this replica too: a vehicle document photo, into the bucket.
            vin = "LZZ5BLSX0A0007777"
            vin = vin[:8] + vin_check_digit(vin) + vin[9:]
            vehicle = await one.post("/api/v1/vehicles", json=transport(vin, plate="鄂A·36912"), headers=ledger.headers)
            assert vehicle.status_code == 201, vehicle.text
            document = await one.post(
                f"/api/v1/vehicles/{vehicle.json()['id']}/documents",
                data={"kind": "driving_license"},
                files={"file": ("xsz.png", PNG, "image/png")},
                headers=ledger.headers,
            )
            assert document.status_code == 201, document.text
            created = await one.post(
                ledger.url("reports/exports"),
                json={"report": "transport_passes", "format": "xlsx", **MONTH},
                headers=ledger.headers,
            )
            assert created.status_code == 202, created.text
            location = created.headers["location"]
            deadline = time.monotonic() + 120
            while (await one.get(location, headers=ledger.headers)).json()["progress"] == 0:
                assert time.monotonic() < deadline, "the first replica never started the job"
                await asyncio.sleep(0.1)
        running = await _row(superuser_url, uuid.UUID(created.json()["id"]))
        first.kill()  # SIGKILL mid-job: no hand-back, the lease must run out
        assert (running["status"], running["attempts"]) == ("running", 1)
        second.start()
        async with httpx.AsyncClient(base_url=second.base, timeout=30) as two:
            job = await _poll(two, location, ledger.headers, limit_s=180)
            assert job["status"] == "done", job
            file = await two.get(job["file_href"], headers=ledger.headers)
            photo = await two.get(f"/api/v1/blobs/{document.json()['sha256']}", headers=ledger.headers)
        assert file.status_code == 200
        assert photo.status_code == 200  # the killed replica's blob is served by the other one
        assert photo.content == PNG
        finished = await _row(superuser_url, uuid.UUID(created.json()["id"]))
        assert finished["attempts"] == 2
        assert finished["claimed_by"] != running["claimed_by"]
        rows = _xlsx_rows(file.content)
        assert len(rows) == job["rows"] > 0
        # The file is an object in the bucket, under its digest.
        head = s3.client().head_object(Bucket=bucket, Key=f"replicas/{finished['result_sha256']}")
        assert head["ContentLength"] == len(file.content)
    finally:
        first.stop()
        second.stop()


@pytest.mark.parametrize("settings", ["app_runner"], indirect=True)
async def test_the_portal_offers_a_background_export_shows_progress_and_serves_the_file(
    client: Any, make_ledger: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19 item 6 on the pages: a month too large to download now becomes a job with a progress page."""
    import re  # noqa: PLC0415

    ledger = await make_ledger(seed=4, per_day=4)
    monkeypatch.setitem(exports.SYNC_MAX_ROWS, "xlsx", 20)
    viewer = await make_user(ledger.tenant_id, Role.VIEWER)
    manager = await make_user(ledger.tenant_id, Role.MANAGER)
    link = "/portal/reports/export/transport_passes?month=2026-09&fmt=xlsx"

    signed = await client.post("/login", data={"login": viewer, "password": "Passw0rd!2024"}, follow_redirects=False)
    assert signed.status_code == 303, signed.text
    offer = await client.get(link)
    assert offer.status_code == 200
    assert "后台导出" in offer.text
    assert "无权创建后台导出任务" in offer.text  # a viewer may not start one
    await client.post("/logout", follow_redirects=False)
    client.cookies.clear()

    signed = await client.post("/login", data={"login": manager, "password": "Passw0rd!2024"}, follow_redirects=False)
    assert signed.status_code == 303, signed.text
    offer = await client.get(link)
    assert 'id="export-job-start"' in offer.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', offer.text)
    assert csrf is not None
    form = {"csrf": csrf.group(1), "report": "transport_passes", "month": "2026-09", "fmt": "xlsx"}
    created = await client.post("/portal/reports/exports", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text
    page_url = created.headers["location"]
    deadline = time.monotonic() + 120
    while True:
        page = await client.get(page_url)
        assert page.status_code == 200
        if "已完成" in page.text or "导出失败" in page.text:
            break
        assert page.headers.get("refresh") == "2"  # the page reloads itself while the job runs
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    assert "已完成" in page.text, page.text
    file = await client.get(f"{page_url}/file")
    assert file.status_code == 200
    assert "filename*=UTF-8''" in file.headers["content-disposition"]
    rows = _xlsx_rows(file.content)
    api = await client.get(
        ledger.url("reports/ledgers/transport_passes"), params={**MONTH, "limit": 500}, headers=ledger.headers
    )
    assert len(rows) == api.json()["total"] > 20
    forged = await client.post("/portal/reports/exports", data={**form, "csrf": "forged"}, follow_redirects=False)
    assert forged.status_code == 403
