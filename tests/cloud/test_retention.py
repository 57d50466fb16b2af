"""Retention with the clock moved forward 25 months (issue 21): floors held, media past them purged, chains intact.

Passes are stored through the ledger (tests/ledger_kit.py) with evidence photos and a clip whose bytes are in
the blob store; the run's "now" is 25 months after the first day. Photos (24-month floor) and video
(12-month floor) of the old passes lose their bytes and gain a purge record; everything younger stays; a
tenant under a legal hold keeps everything; a file another tenant still holds stays; every record is still
there and every tenant's chain verifies.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from agent_protocol.events import Evidence, Snapshot, SnapshotRole, VideoClip
from cloud import blobs, retention
from cloud.blobs import BlobStore
from cloud.compliance import chain
from cloud.db import models as m
from tenants.context import Principal, Role

pytestmark = pytest.mark.anyio

DAY0 = dt.datetime(2024, 11, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 北京时间
NOW = retention.months_before(DAY0, -25)  # 25 months later


def _admin(tenant_id) -> Principal:
    return Principal(user_id=tenant_id, role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="retention-test")


async def _evidence(database, store: BlobStore, tenant_id, label: str) -> Evidence:
    """Photos and a clip whose bytes are in the store and recorded for the tenant (as the hub does)."""
    items = {}
    for role in ("scene", "plate", "clip"):
        data = f"{label}-{role}".encode() * 50
        digest = store.put(data)
        items[role] = (digest, len(data))
        async with database.session(_admin(tenant_id)) as session, session.begin():
            await blobs.record(session, tenant_id, digest, len(data), "image/jpeg")
    return Evidence(
        snapshots=(
            Snapshot(role=SnapshotRole.SCENE, sha256=items["scene"][0], size=items["scene"][1]),
            Snapshot(role=SnapshotRole.PLATE, sha256=items["plate"][0], size=items["plate"][1]),
        ),
        clip=VideoClip(sha256=items["clip"][0], size=items["clip"][1], start=DAY0, end=DAY0),
    )


async def test_a_run_25_months_on_purges_only_what_is_past_the_floors(
    database, settings, make_tenant, seed_passes
) -> None:
    store = BlobStore(settings.blobs.root)
    a = await make_tenant(name="保存期限钢铁")
    held = await make_tenant(name="司法保全水泥")
    ages = {"old": DAY0, "mid": retention.months_before(NOW, 18), "new": retention.months_before(NOW, 1)}
    evidence = {}
    specs = []
    for age, when in ages.items():
        evidence[age] = await _evidence(database, store, a.tenant_id, age)
        specs.append({"plate": f"鄂A1000{len(specs)}", "occurred_at": when, "evidence": evidence[age]})
    ledger_a = await seed_passes(a.tenant_id, specs)
    # The held tenant's old pass has the very bytes of A's old scene photo as its scene: a shared file.
    shared = evidence["old"].snapshots[0]
    own = await _evidence(database, store, held.tenant_id, "held")
    held_evidence = Evidence(snapshots=(shared, own.snapshots[1]), clip=own.clip)
    async with database.session(_admin(held.tenant_id)) as session, session.begin():
        await blobs.record(session, held.tenant_id, shared.sha256, shared.size, "image/jpeg")
        await retention.set_hold(
            session, _admin(held.tenant_id), held.tenant_id, True, "法院保全令（2026）鄂01执保12号"
        )
    await seed_passes(held.tenant_id, [{"plate": "鄂B20000", "occurred_at": DAY0, "evidence": held_evidence}])

    # A dry run plans without touching anything.
    dry = await retention.run_tenant(database, store, a.tenant_id, NOW, dry_run=True)
    assert (dry.photos, dry.videos) == (2, 2)
    assert all(store.has(d) for d in dry.digests)

    run = await retention.run_tenant(database, store, a.tenant_id, NOW)
    assert run.photo_cutoff == retention.months_before(NOW, 24)
    assert run.video_cutoff == retention.months_before(NOW, 12)
    # Photos of the old pass only (24 months); clips of the old and the 18-month-old pass (12 months).
    assert (run.photos, run.videos) == (2, 2)
    old, mid, new = evidence["old"], evidence["mid"], evidence["new"]
    gone = {old.snapshots[1].sha256, old.clip.sha256, mid.clip.sha256}
    assert set(run.digests) == gone | {shared.sha256}
    assert all(not store.has(d) for d in gone)
    assert store.has(shared.sha256), "a file the held tenant still holds was deleted"
    assert (run.files_deleted, run.files_shared) == (3, 1)
    for kept in (*mid.snapshots, *new.snapshots, new.clip):
        assert store.has(kept.sha256)

    held_run = await retention.run_tenant(database, store, held.tenant_id, NOW)
    assert held_run.held
    assert all(store.has(d) for d in held_evidence.blob_hashes())

    async with database.session(_admin(a.tenant_id)) as session, session.begin():
        purged = (await session.execute(select(m.RetentionPurge.kind, m.RetentionPurge.reason))).all()
        assert sorted(k for k, _ in purged) == ["photo", "photo", "video", "video"]
        assert {r for _, r in purged} == {"照片超过保存期限 24 个月", "视频超过保存期限 12 个月"}
        assert await session.scalar(select(func.count()).select_from(m.PassEvent)) == 3  # every record kept
        entries = await session.scalar(select(func.count()).where(m.AuditLog.action == "retention.purged"))
        assert entries == 1
        report = await session.run_sync(chain.verify, a.tenant_id)
        assert report.problems == []
        assert report.agents == 1
    assert ledger_a.pass_ids

    # A second run finds nothing more; lifting the hold lets the held tenant's old media go.
    again = await retention.run_tenant(database, store, a.tenant_id, NOW)
    assert (again.photos, again.videos) == (0, 0)
    async with database.session(_admin(held.tenant_id)) as session, session.begin():
        await retention.set_hold(session, _admin(held.tenant_id), held.tenant_id, False, "保全解除")
    lifted = await retention.run_tenant(database, store, held.tenant_id, NOW)
    assert (lifted.photos, lifted.videos) == (2, 1)
    assert not store.has(shared.sha256), "the last holder purged the shared file"


async def test_periods_below_the_floor_are_refused_and_longer_ones_honoured(database, settings, make_tenant) -> None:
    tenant = await make_tenant(name="长期保存企业")
    async with database.session(_admin(tenant.tenant_id)) as session, session.begin():
        with pytest.raises(retention.RetentionError, match="照片保存期限不得少于 24 个月"):
            await retention.set_periods(session, _admin(tenant.tenant_id), tenant.tenant_id, 12, 12, "试图缩短")
        with pytest.raises(retention.RetentionError, match="视频保存期限不得少于 12 个月"):
            await retention.set_periods(session, _admin(tenant.tenant_id), tenant.tenant_id, 24, 6, "试图缩短")
        await retention.set_periods(session, _admin(tenant.tenant_id), tenant.tenant_id, 36, 24, "集团要求保存三年")
    run = await retention.run_tenant(database, BlobStore(settings.blobs.root), tenant.tenant_id, NOW)
    assert run.photo_cutoff == retention.months_before(NOW, 36)
    assert run.video_cutoff == retention.months_before(NOW, 24)


def test_months_are_calendar_months_in_beijing_time() -> None:
    # 2026-03-31 01:00 北京时间 (= 03-30 17:00 UTC) minus one month is 02-28 01:00 北京时间.
    now = dt.datetime(2026, 3, 30, 17, 0, tzinfo=dt.UTC)
    assert retention.months_before(now, 1) == dt.datetime(2026, 2, 27, 17, 0, tzinfo=dt.UTC)
    assert retention.months_before(now, 24) == dt.datetime(2024, 3, 30, 17, 0, tzinfo=dt.UTC)
    assert retention.months_before(now, -1) == dt.datetime(2026, 4, 29, 17, 0, tzinfo=dt.UTC)
