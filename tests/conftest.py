"""Root test configuration: the anyio backend and a real PostgreSQL for every test worker.

On first use of a database fixture each test worker starts its own embedded PostgreSQL (or uses the
server named by ``DATABASE_URL``, an admin URL), creates the owner, app and regulator roles and its own
database migrated to head (ARCHITECTURE.md "Tenant isolation"). Pure unit runs start no server.
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

_PASSWORDS_ENV = "ECOGATE_TEST_ROLE_PASSWORDS"


def pytest_configure(config: pytest.Config) -> None:
    # Tests run the cloud in development mode explicitly (plain-http cookies, development uplink key;
    # cloud/settings.py); production mode would refuse the test secrets, as it should.
    os.environ.setdefault("ECOGATE_ENV", "development")
    # Role passwords are made once by the controller so every worker sets the same ones.
    if not os.environ.get(_PASSWORDS_ENV):
        from tenants.bootstrap import new_passwords  # noqa: PLC0415

        os.environ[_PASSWORDS_ENV] = json.dumps(new_passwords())


@pytest.fixture(name="anyio_backend", scope="session")
def fx_anyio_backend() -> str:
    """Run anyio-marked async tests on asyncio (the runtime of both agent and cloud)."""
    return "asyncio"


@pytest.fixture(name="admin_url", scope="session")
def fx_admin_url() -> Iterator[str]:
    """The administrator URL of the test server (bootstrap work only), started on first use.

    ``DATABASE_URL`` (an admin URL) selects an external server; otherwise this worker starts its own
    embedded PostgreSQL in a temporary folder and stops it at the end of the session.
    """
    from infra.pg import EmbeddedPostgres  # noqa: PLC0415
    from tenants.bootstrap import ensure_roles  # noqa: PLC0415

    server = None
    admin_url = os.environ.get("DATABASE_URL", "")
    if not admin_url:
        server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="ecogate-test-pg-"))).start()
        admin_url = server.admin_url
    asyncio.run(ensure_roles(admin_url, json.loads(os.environ[_PASSWORDS_ENV])))
    yield admin_url
    if server is not None:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)


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
