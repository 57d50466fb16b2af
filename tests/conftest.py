"""Root test configuration: the anyio backend and a real PostgreSQL for every test worker.

The xdist controller (or a plain pytest run) starts one embedded PostgreSQL, or uses the server named
by ``DATABASE_URL`` (an admin URL), and creates the owner, app and regulator roles; each worker then
creates its own database, migrated to head, on first use (ARCHITECTURE.md "Tenant isolation").
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

_ADMIN_ENV = "ECOGATE_TEST_ADMIN_URL"
_PASSWORDS_ENV = "ECOGATE_TEST_ROLE_PASSWORDS"


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or os.environ.get(_ADMIN_ENV):
        return
    from infra.pg import EmbeddedPostgres  # noqa: PLC0415
    from tenants.bootstrap import ensure_roles, new_passwords  # noqa: PLC0415

    admin_url = os.environ.get("DATABASE_URL", "")
    if not admin_url:
        data_dir = Path(tempfile.mkdtemp(prefix="ecogate-test-pg-"))
        server = EmbeddedPostgres(data_dir).start()
        config.stash[_SERVER_KEY] = server
        admin_url = server.admin_url
    passwords = new_passwords()
    asyncio.run(ensure_roles(admin_url, passwords))
    os.environ[_ADMIN_ENV] = admin_url
    os.environ[_PASSWORDS_ENV] = json.dumps(passwords)


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(_SERVER_KEY, None)
    if server is not None:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)


_SERVER_KEY = pytest.StashKey["object"]()


@pytest.fixture(name="anyio_backend", scope="session")
def fx_anyio_backend() -> str:
    """Run anyio-marked async tests on asyncio (the runtime of both agent and cloud)."""
    return "asyncio"


@pytest.fixture(name="admin_url", scope="session")
def fx_admin_url() -> str:
    """The administrator URL of the test server (bootstrap work only)."""
    return os.environ[_ADMIN_ENV]


@pytest.fixture(name="worker_name", scope="session")
def fx_worker_name() -> str:
    """The xdist worker id (``gw0``…) or ``main`` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(name="db_urls", scope="session")
def fx_db_urls(admin_url: str, worker_name: str) -> Iterator[object]:
    """This worker's database, migrated to head; yields its role URLs (tenants.bootstrap.DatabaseUrls)."""
    from cloud.db.migrate import upgrade  # noqa: PLC0415
    from tenants.bootstrap import create_database, drop_database  # noqa: PLC0415

    passwords = json.loads(os.environ[_PASSWORDS_ENV])
    name = f"ecogate_test_{worker_name}"
    urls = asyncio.run(create_database(admin_url, name, passwords, recreate=True))
    upgrade(urls.owner_url)
    yield urls
    asyncio.run(drop_database(admin_url, name))


@pytest.fixture(name="database")
async def fx_database(db_urls: object) -> AsyncIterator[object]:
    """Connection pools of the app and regulator roles on this worker's database."""
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import DatabaseSettings  # noqa: PLC0415

    settings = DatabaseSettings(
        app_url=db_urls.app_url,  # type: ignore[attr-defined]
        owner_url=db_urls.owner_url,  # type: ignore[attr-defined]
        regulator_url=db_urls.regulator_url,  # type: ignore[attr-defined]
        pool_size=2,
    )
    database = Database.from_settings(settings)
    yield database
    await database.dispose()
