"""Storage classes in retention (issue 21 item 1 on the blob stores of issue 20), on both backends.

A tenant's passes 30, 6 and 1 months old (photos and a clip each, bytes in the store): the run purges what is
past the floors (ADR 0029) and moves the media of the 6-month-old pass — past the 3-month hot period, inside
the floors — to the store's cold class (S3: ``STANDARD_IA`` on moto's server; filesystem: the ``cold/``
tier), recorded in ``retention_move`` and audited once; the 1-month-old media stay hot; everything stays
readable; a second run moves nothing again; a tenant under a legal hold is left alone; chains still verify.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from agent_protocol.events import Evidence, Snapshot, SnapshotRole, VideoClip
from cloud import blobs, retention
from cloud.blobs import STANDARD, Blobs, open_store
from cloud.compliance import chain
from cloud.db import models as m
from cloud.settings import BlobSettings
from tenants.context import Principal, Role
from tests.cloud.s3_kit import S3Server, moto_s3

pytestmark = pytest.mark.anyio

NOW = dt.datetime(2027, 1, 15, 2, 0, tzinfo=dt.UTC)


@pytest.fixture(name="s3", scope="module")
def fx_s3() -> Iterator[S3Server]:
    with moto_s3() as server:
        yield server


@pytest.fixture(name="store", params=["filesystem", "s3"])
def fx_store(request: pytest.FixtureRequest, tmp_path: Path) -> Blobs:
    if request.param == "filesystem":
        return open_store(BlobSettings(root=tmp_path / "blobs"))
    s3: S3Server = request.getfixturevalue("s3")
    return open_store(BlobSettings(url=s3.url(s3.new_bucket())))


def _admin(tenant_id: Any) -> Principal:
    return Principal(user_id=tenant_id, role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="tiering-test")


async def _evidence(database: Any, store: Blobs, tenant_id: Any, label: str, at: dt.datetime) -> Evidence:
    """Photos and a clip whose bytes are in the store and recorded for the tenant (as the hub does)."""
    items = {}
    for role in ("scene", "plate", "clip"):
        data = f"{label}-{role}-{tenant_id}".encode() * 40
        digest = store.put(data)
        items[role] = (digest, len(data))
        async with database.session(_admin(tenant_id)) as session, session.begin():
            await blobs.record(session, tenant_id, digest, len(data), "image/jpeg")
    return Evidence(
        snapshots=(
            Snapshot(role=SnapshotRole.SCENE, sha256=items["scene"][0], size=items["scene"][1]),
            Snapshot(role=SnapshotRole.PLATE, sha256=items["plate"][0], size=items["plate"][1]),
        ),
        clip=VideoClip(sha256=items["clip"][0], size=items["clip"][1], start=at, end=at),
    )


async def test_media_past_the_hot_period_move_to_the_cold_class(
    database: Any, store: Blobs, make_tenant: Any, seed_passes: Any
) -> None:
    tenant = await make_tenant(name="冷热分层钢铁")
    held = await make_tenant(name="冷热分层保全")
    ages = {
        "old": retention.months_before(NOW, 30),
        "mid": retention.months_before(NOW, 6),
        "new": retention.months_before(NOW, 1),
    }
    evidence = {age: await _evidence(database, store, tenant.tenant_id, age, when) for age, when in ages.items()}
    specs = [
        {"plate": f"鄂A2000{i}", "occurred_at": ages[age], "evidence": evidence[age]} for i, age in enumerate(ages)
    ]
    await seed_passes(tenant.tenant_id, specs)
    held_evidence = await _evidence(database, store, held.tenant_id, "held", ages["mid"])
    async with database.session(_admin(held.tenant_id)) as session, session.begin():
        await retention.set_hold(session, _admin(held.tenant_id), held.tenant_id, True, "法院保全令")
    await seed_passes(held.tenant_id, [{"plate": "鄂B20000", "occurred_at": ages["mid"], "evidence": held_evidence}])
    mid = set(evidence["mid"].blob_hashes())
    cold = store.cold_class

    dry = await retention.run_tenant(database, store, tenant.tenant_id, NOW, dry_run=True)
    assert dry.moved == len(mid)
    assert all(store.storage_class(d) == STANDARD for d in mid)

    run = await retention.run_tenant(database, store, tenant.tenant_id, NOW)
    assert run.hot_cutoff == retention.months_before(NOW, 3)
    assert (run.photos, run.videos) == (2, 1)  # the 30-month-old pass's photos and clip are purged
    assert run.moved == len(mid) == 3
    for digest in mid:
        assert store.storage_class(digest) == cold
        assert store.get(digest)  # still readable at once
    for digest in evidence["new"].blob_hashes():
        assert store.storage_class(digest) == STANDARD
    for digest in evidence["old"].blob_hashes():
        assert store.storage_class(digest) is None  # purged, not moved

    async with database.session(_admin(tenant.tenant_id)) as session, session.begin():
        moves = (await session.execute(select(m.RetentionMove.sha256, m.RetentionMove.storage_class))).all()
        assert {s for s, _ in moves} == mid
        assert {c for _, c in moves} == {cold}
        audited = select(func.count()).where(m.AuditLog.action == "retention.moved_cold")
        assert await session.scalar(audited) == 1
        report = await session.run_sync(chain.verify, tenant.tenant_id)
        assert report.problems == []

    again = await retention.run_tenant(database, store, tenant.tenant_id, NOW)
    assert again.moved == 0
    async with database.session(_admin(tenant.tenant_id)) as session, session.begin():
        assert await session.scalar(audited) == 1

    held_run = await retention.run_tenant(database, store, held.tenant_id, NOW)
    assert held_run.held
    assert held_run.moved == 0
    assert all(store.storage_class(d) == STANDARD for d in held_evidence.blob_hashes())
