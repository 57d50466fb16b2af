"""Cloud test fixtures: the app on this worker's database, an HTTP client, tenants and accounts."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from cloud.app import create_app
from cloud.auth.passwords import hash_password
from cloud.db.engine import Database
from cloud.settings import AuthSettings, BlobSettings, DatabaseSettings, Settings
from tenants.context import Principal, Role
from tenants.ids import new_id
from tenants.onboarding import AccountSpec, TenantSpec, add_tenant_user, create_staff_account, onboard_tenant

PASSWORD = "Passw0rd!2024"
_counter = itertools.count(1)


@dataclass
class TenantHandle:
    """A tenant made for a test, with its administrator's login."""

    tenant_id: uuid.UUID
    admin_login: str
    name: str


@pytest.fixture(name="settings")
def fx_settings(db_urls: object, tmp_path: Path) -> Settings:
    """Settings pointing at this worker's database and a temporary blob store."""
    return Settings(
        database=DatabaseSettings(
            app_url=db_urls.app_url,  # type: ignore[attr-defined]
            owner_url=db_urls.owner_url,  # type: ignore[attr-defined]
            regulator_url=db_urls.regulator_url,  # type: ignore[attr-defined]
            pool_size=2,
        ),
        auth=AuthSettings(session_secret="test-secret-" + "x" * 32, secure_cookies=False),
        blobs=BlobSettings(root=tmp_path / "blobs"),
        data_dir=tmp_path,
        environment="development",  # plain-http test client (cloud/settings.py)
    )


@pytest.fixture(name="app")
def fx_app(settings: Settings) -> Litestar:
    """The cloud application with its own connection pools (it runs on the test client's event loop)."""
    return create_app(settings)


@pytest.fixture(name="client")
async def fx_client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """An HTTP client for the app (in-process ASGI)."""
    async with AsyncTestClient(app=app) as client:
        yield client


PLATFORM_ACTOR = Principal(user_id=uuid.UUID(int=1), role=Role.PLATFORM_ADMIN, login="test-platform")


@pytest.fixture(name="make_tenant")
def fx_make_tenant(database: Database) -> Callable[..., Awaitable[TenantHandle]]:
    """Factory: onboard a tenant (default region 420102 武汉市江岸区) with an administrator."""

    async def make(region_code: str = "420102", name: str | None = None, grade: str = "B") -> TenantHandle:
        n = next(_counter)
        suffix = uuid.uuid4().hex[:8]
        tenant_name = name or f"测试钢铁有限公司{n}"
        spec = TenantSpec(
            name=tenant_name,
            uscc=f"9142{suffix.upper()}{n:06d}"[:18].ljust(18, "0"),
            industry="steel",
            region_code=region_code,
            grade=grade,
        )
        login = f"admin-{suffix}"
        admin = AccountSpec(login=login, display_name="企业管理员", password_hash=hash_password(PASSWORD))
        tenant_id = await onboard_tenant(database.session, spec, admin, PLATFORM_ACTOR)
        return TenantHandle(tenant_id, login, tenant_name)

    return make


@pytest.fixture(name="make_user")
def fx_make_user(database: Database) -> Callable[..., Awaitable[str]]:
    """Factory: add a user with a role to a tenant; returns the login."""

    async def make(tenant_id: uuid.UUID, role: Role) -> str:
        login = f"{role.value}-{uuid.uuid4().hex[:8]}"
        account = AccountSpec(login=login, display_name="测试用户", password_hash=hash_password(PASSWORD))
        await add_tenant_user(database.session, tenant_id, account, role, PLATFORM_ACTOR)
        return login

    return make


@pytest.fixture(name="make_staff")
def fx_make_staff(database: Database) -> Callable[..., Awaitable[str]]:
    """Factory: a platform admin, installer or regulator account; returns the login."""

    async def make(kind: str, region_code: str | None = None) -> str:
        login = f"{kind}-{uuid.uuid4().hex[:8]}"
        account = AccountSpec(login=login, display_name="测试人员", password_hash=hash_password(PASSWORD))
        await create_staff_account(database.session, account, kind, region_code)
        return login

    return make


@pytest.fixture(name="login_as")
def fx_login_as(client: AsyncTestClient[Litestar]) -> Callable[..., Awaitable[dict[str, str]]]:
    """Log in and return bearer headers."""

    async def login(login: str, password: str = PASSWORD, tenant_id: uuid.UUID | None = None) -> dict[str, str]:
        body: dict[str, object] = {"login": login, "password": password}
        if tenant_id is not None:
            body["tenant_id"] = str(tenant_id)
        response = await client.post("/api/v1/auth/login", json=body)
        assert response.status_code == 200, response.text
        client.cookies.clear()  # tests authenticate explicitly with bearer headers
        return {"Authorization": f"Bearer {response.json()['token']}"}

    return login


@pytest.fixture(name="superuser_url")
def fx_superuser_url(admin_url: str, db_urls: object) -> str:
    """A superuser URL (asyncpg ``postgresql://``) on this worker's database: bypasses RLS, for snapshots."""
    from urllib.parse import urlsplit, urlunsplit  # noqa: PLC0415

    database = urlsplit(db_urls.owner_url).path  # type: ignore[attr-defined]
    parts = urlsplit(admin_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    return urlunsplit((parts.scheme, parts.netloc, database, parts.query, ""))


@dataclass
class LedgerHandle:
    """A site with one gate, an in and an out lane, an agent, pass events and weighings (see seed_passes)."""

    tenant_id: uuid.UUID
    site_id: uuid.UUID
    gate_id: uuid.UUID
    lane_in: uuid.UUID
    lane_out: uuid.UUID
    agent_id: uuid.UUID
    pass_ids: list[uuid.UUID]
    weighing_ids: list[uuid.UUID]
    chain: Any = None  # tests.ledger_kit.AgentChain: more events of the same agent


#: Keys of a seed_passes event spec that are not agent event fields.
_SEED_KEYS = frozenset({"plate", "occurred_at", "direction", "plate_colour", "decision", "trigger", "weight_kg"})


@pytest.fixture(name="seed_passes")
def fx_seed_passes(database: Database) -> Callable[..., Awaitable[LedgerHandle]]:
    """Factory: site, gate, lanes and agent for a tenant plus pass events, inserted as the app role.

    ``events`` are dicts with ``plate`` and ``occurred_at`` and optionally ``direction``, ``decision``,
    ``trigger``, ``plate_colour``, ``weight_kg`` (adds a weighing) and any other agent event field
    (``registry_id``, ``vehicle``, ``cargo`` …); they are sealed as an agent's chain and stored through
    the ledger (cloud.ledger, the hub's ingest path; tests/ledger_kit.py).
    """
    from cloud.db import models as m  # noqa: PLC0415
    from cloud.ledger import weighings  # noqa: PLC0415
    from tests.ledger_kit import AgentChain  # noqa: PLC0415

    async def seed(tenant_id: uuid.UUID, events: list[dict[str, object]]) -> LedgerHandle:
        actor = Principal(user_id=uuid.UUID(int=2), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="test-agent")
        async with database.session(actor) as session, session.begin():
            site = m.Site(tenant_id=tenant_id, name="测试厂区", address="")
            session.add(site)
            await session.flush()
            gate = m.Gate(tenant_id=tenant_id, site_id=site.id, code="G1", name="东门")
            agent = m.Agent(tenant_id=tenant_id, site_id=site.id, name="agent-1", status="active", health={})
            session.add_all([gate, agent])
            await session.flush()
            lane_in = m.Lane(tenant_id=tenant_id, gate_id=gate.id, code="L1", name="入口", direction="in")
            lane_out = m.Lane(tenant_id=tenant_id, gate_id=gate.id, code="L2", name="出口", direction="out")
            session.add_all([lane_in, lane_out])
            await session.flush()
            chain = AgentChain(tenant_id, site.id, agent.id, lane_in.id, lane_out.id)
            pass_ids: list[uuid.UUID] = []
            weighing_ids: list[uuid.UUID] = []
            for spec in events:
                extra = {k: v for k, v in spec.items() if k not in _SEED_KEYS}
                row = await chain.record(
                    session,
                    str(spec["plate"]),
                    spec["occurred_at"],  # type: ignore[arg-type]
                    str(spec.get("direction", "in")),
                    colour=str(spec.get("plate_colour", "yellow")),
                    confidence=0.98,
                    decision=str(spec.get("decision", "allow")),
                    trigger=str(spec.get("trigger", "auto")),
                    **extra,
                )
                pass_ids.append(row.id)
                if "weight_kg" in spec:
                    weighing = await weighings.record_weighing(
                        session,
                        tenant_id,
                        weighings.WeighingRecord(
                            id=new_id(),
                            site_id=site.id,
                            occurred_at=row.occurred_at,
                            weight_kg=Decimal(str(spec["weight_kg"])),
                            pass_event_id=row.id,
                            agent_id=agent.id,
                            cargo_name="煤炭",
                        ),
                    )
                    weighing_ids.append(weighing.id)
        return LedgerHandle(
            tenant_id, site.id, gate.id, lane_in.id, lane_out.id, agent.id, pass_ids, weighing_ids, chain
        )

    return seed


__all__ = ["PASSWORD", "LedgerHandle", "TenantHandle", "new_id"]
