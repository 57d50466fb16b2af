"""The enterprise pass record page links the late clip (ADR 0020); another tenant's clip never shows.

Real PostgreSQL under RLS, the real app in-process over ASGI; the ``pass_clip`` row is inserted as the
app role under the tenant's principal, as the hub does.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from cloud.db import models as m
from cloud.db.engine import Database
from tenants.context import Principal, Role

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_cloud = _load("_portal_clips_cloud_conftest", ROOT / "tests" / "cloud" / "conftest.py")
fx_settings = _cloud.fx_settings
fx_app = _cloud.fx_app
fx_client = _cloud.fx_client
fx_make_tenant = _cloud.fx_make_tenant
fx_make_user = _cloud.fx_make_user
fx_seed_passes = _cloud.fx_seed_passes
PASSWORD = _cloud.PASSWORD

pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("portal-enterprise")]


async def _clip(database: Database, handle: Any, digest: str) -> None:
    actor = Principal(user_id=uuid.UUID(int=2), role=Role.TENANT_ADMIN, tenant_id=handle.tenant_id, login="hub")
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)
    async with database.session(actor) as session, session.begin():
        session.add(
            m.PassClip(
                tenant_id=handle.tenant_id,
                pass_event_id=handle.pass_ids[0],
                agent_id=handle.agent_id,
                sha256=digest,
                size_bytes=204_800,
                start=start,
                end=start + dt.timedelta(seconds=8),
                mime="video/x-motion-jpeg",
            )
        )


async def test_pass_page_links_the_late_clip(
    client: Any, make_tenant: Any, make_user: Any, seed_passes: Any, database: Database
) -> None:
    mine = await make_tenant("420107", name=f"片段测试钢铁{uuid.uuid4().hex[:4]}")
    other = await make_tenant("420107", name=f"片段测试水泥{uuid.uuid4().hex[:4]}")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    handle = await seed_passes(mine.tenant_id, [{"plate": "鄂A12345", "occurred_at": now}])
    foreign = await seed_passes(other.tenant_id, [{"plate": "鄂E88888", "occurred_at": now}])
    await _clip(database, handle, "a" * 64)
    await _clip(database, foreign, "b" * 64)

    login = await make_user(mine.tenant_id, Role.MANAGER)
    response = await client.post("/login", data={"login": login, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303
    page = await client.get(f"/portal/passes/{handle.pass_ids[0]}")
    assert page.status_code == 200
    assert f'href="/api/v1/blobs/{"a" * 64}"' in page.text
    assert "过车前后" in page.text
    assert "200 KB" in page.text
    assert "b" * 64 not in page.text
    hidden = await client.get(f"/portal/passes/{foreign.pass_ids[0]}")
    assert hidden.status_code == 404
    assert "b" * 64 not in hidden.text
