"""Sealing of cloud-born rows into the tenant's cloud chain, in the transaction that writes them.

The database layer's half of the tamper evidence (ARCHITECTURE.md "Data model essentials"): every
chained row (:data:`CHAINED`) gets a ``cloud_chain`` link holding the hash of its whole content
(:mod:`cloud.db.canonical`). ORM rows are found by an ``after_flush`` hook; rows written with a Core
insert are named with :func:`note_new`. A ``before_commit`` hook seals them in the same transaction.
The hooks are registered on :class:`tenants.rls.TenantSession` when this module is imported
(:mod:`cloud.db.engine` and :mod:`cloud.hub.pool` import it), so the models import nothing above the
database layer. Anchors and verification live in :mod:`cloud.compliance.chain`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import Select, Table, event, func, insert, select
from sqlalchemy.orm import Session

from cloud.db import models as m
from cloud.db.canonical import GENESIS, content_hash, link_hash
from tenants.base import Base
from tenants.rls import TenantSession

#: Tables whose rows are sealed into the cloud chain (record_type = table name).
CHAINED: Final[dict[str, type[Base]]] = {
    "vehicle_version": m.VehicleVersion,
    "vehicle_document": m.VehicleDocument,
    "vehicle_review": m.VehicleReview,
    "check_flag": m.CheckFlag,
    "check_resolution": m.CheckResolution,
    "policy_version": m.PolicyVersion,
    "emergency_response": m.EmergencyResponse,
    "blacklist_entry": m.BlacklistEntry,
    "blacklist_revocation": m.BlacklistRevocation,
    "audit_sample": m.AuditSample,
    "pass_correction": m.PassCorrection,  # issue 15: corrections are records born in the cloud
}
_DIRTY_KEY: Final = "ecogate.chain_dirty"
_CHUNK: Final = 5000


def table_of(model: type[Base]) -> Table:
    """The Core table of a model."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _lock(session: Session, tenant_id: uuid.UUID) -> None:
    # One writer of a tenant's cloud chain at a time (sequence numbers and prev links stay linear).
    session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"cloud_chain:{tenant_id}", 0))))


def head(session: Session, tenant_id: uuid.UUID) -> tuple[int, str]:
    """The tenant's cloud-chain head (seq, hash); (0, GENESIS) when empty."""
    row = session.execute(
        select(m.CloudChainEntry.seq, m.CloudChainEntry.hash)
        .where(m.CloudChainEntry.tenant_id == tenant_id)
        .order_by(m.CloudChainEntry.seq.desc())
        .limit(1)
    ).one_or_none()
    return (0, GENESIS) if row is None else (int(row.seq), str(row.hash))


def unsealed(tenant_id: uuid.UUID, name: str) -> Select[Any]:
    """The rows of chained table ``name`` of the tenant that have no cloud-chain link yet."""
    table = table_of(CHAINED[name])
    # One probe of the unique (tenant, type, record) index per candidate row. ``NOT IN (subquery)``
    # hashed every earlier link of the type first, and a plain NOT EXISTS let a planner whose
    # statistics predate a burst of rows (a fresh or fast-growing tenant) pick a nested-loop anti
    # join over all of them: either way sealing a checks run's new flags cost a scan of all the
    # tenant's earlier ones (0.7 s at 5,000 flags, growing; bench/checks.py). ``OFFSET 0`` keeps the
    # sub-select a per-row probe (PostgreSQL does not turn a sub-select with an OFFSET into a join).
    sealed = (
        select(m.CloudChainEntry.record_id)
        .where(
            m.CloudChainEntry.tenant_id == tenant_id,
            m.CloudChainEntry.record_type == name,
            m.CloudChainEntry.record_id == table.c.id,
        )
        .offset(0)
        .exists()
    )
    return select(table).where(table.c.tenant_id == tenant_id, ~sealed)


def _pending(
    session: Session, tenant_id: uuid.UUID, only: Mapping[str, set[uuid.UUID]] | None
) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for name, model in CHAINED.items():
        if only is not None and name not in only:
            continue
        table = table_of(model)
        query = unsealed(tenant_id, name)
        if only is None:
            out.extend((name, dict(r)) for r in session.execute(query).mappings())
            continue
        ids = sorted(only[name])
        for start in range(0, len(ids), _CHUNK):  # asyncpg takes at most 32767 parameters
            chunk = query.where(table.c.id.in_(ids[start : start + _CHUNK]))
            out.extend((name, dict(r)) for r in session.execute(chunk).mappings())
    out.sort(key=lambda item: (item[1]["created_at"], item[0], str(item[1]["id"])))
    return out


def seal(session: Session, tenant_id: uuid.UUID, only: Mapping[str, set[uuid.UUID]] | None = None) -> int:
    """Append a cloud-chain link for every unsealed chained row of the tenant (or only the given rows).

    Runs inside the caller's transaction (sync session; use ``AsyncSession.run_sync`` from async code).
    Returns the number of links added.
    """
    _lock(session, tenant_id)
    rows = _pending(session, tenant_id, only)
    if not rows:
        return 0
    seq, prev = head(session, tenant_id)
    links: list[dict[str, Any]] = []
    for name, row in rows:
        seq += 1
        content = content_hash(name, row)
        digest = link_hash(
            tenant_id=tenant_id, seq=seq, record_type=name, record_id=row["id"], content=content, prev_hash=prev
        )
        links.append(
            {
                "tenant_id": tenant_id,
                "id": uuid.uuid4(),
                "seq": seq,
                "record_type": name,
                "record_id": row["id"],
                "content_hash": content,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    # Core executemany on the table (insertmanyvalues pages): the ORM bulk path spent ~60 % of a large
    # checks run building per-row insert commands (bench/ingest.py, 27,000 flags in one run).
    session.execute(insert(table_of(m.CloudChainEntry)), links)
    return len(links)


def note_new(session: Session, tenant_id: uuid.UUID, record_type: str, record_id: uuid.UUID) -> None:
    """Ask for a row written with a Core insert to be sealed at commit (ORM objects are found by themselves)."""
    session.info.setdefault(_DIRTY_KEY, {}).setdefault(tenant_id, {}).setdefault(record_type, set()).add(record_id)


@event.listens_for(TenantSession, "after_flush")
def _after_flush(session: Session, _context: object) -> None:
    """Collect the chained rows this flush added."""
    for obj in session.new:
        name = getattr(obj, "__tablename__", None)
        if name in CHAINED:
            note_new(session, obj.tenant_id, name, obj.id)


@event.listens_for(TenantSession, "before_commit")
def _before_commit(session: Session) -> None:
    """Seal the rows collected during the transaction, in it."""
    dirty: dict[uuid.UUID, dict[str, set[uuid.UUID]]] = session.info.pop(_DIRTY_KEY, {})
    for tenant_id, only in dirty.items():
        seal(session, tenant_id, only)


@event.listens_for(TenantSession, "after_rollback")
def _after_rollback(session: Session) -> None:
    """Forget rows of a rolled-back transaction."""
    session.info.pop(_DIRTY_KEY, None)
