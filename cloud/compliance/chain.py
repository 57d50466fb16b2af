"""Tamper evidence: the per-tenant cloud chain, anchors, and verification of every chain of a tenant.

* **Agent chains** (``pass_event``): each agent seals its events at the source
  (``agent_protocol.events``); the hub verifies each batch on ingest. :func:`verify` re-checks the
  stored chain: every row's columns against the event the agent sent (``payload``), every hash,
  every ``prev_hash`` link and the sequence numbers.
* **Cloud chain** (``cloud_chain``): every record born in the cloud (vehicle versions and documents,
  maker-checker reviews, check flags and their resolutions, policy versions, emergency responses,
  blacklist entries and revocations, audit samples) gets a link holding the hash of the row's whole
  content (``cloud.db.canonical``). Rows are sealed in the transaction that writes them (a
  ``before_commit`` hook on the tenant session, ``cloud.db.sealing``) and, as a safety net, by every anchor.
* **Anchors** (``chain_anchor``): the heads of all chains at a moment, chained to the previous
  anchor; made daily and on demand, echoed to the agents and handed out (portal, API, CLI) so a copy
  lives outside the database. Deleting the newest rows or re-hashing a whole chain is caught only
  against an anchor: a copy the verifier kept is passed to :func:`verify` as ``external``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from agent_protocol.events import GENESIS_HASH, PassEvent, event_hash
from cloud.db import models as m
from cloud.db import sealing
from cloud.db.canonical import GENESIS, anchor_hash, content_hash, link_hash
from cloud.ledger import passes as ledger_passes

# Sealing (the session hooks, the chained tables) lives in the database layer, so the models import
# nothing above it (issue 15); re-exported here for the callers of the compliance slice.
CHAINED: Final = sealing.CHAINED
seal = sealing.seal
note_new = sealing.note_new
_table = sealing.table_of
_head = sealing.head
_CHUNK: Final = 5000
_SHANGHAI: Final = ZoneInfo("Asia/Shanghai")


# Anchors ----------------------------------------------------------------------------------------


def heads(session: Session, tenant_id: uuid.UUID) -> dict[str, Any]:
    """The head of every agent chain and of the cloud chain of the tenant."""
    rows = session.execute(
        text(
            "SELECT DISTINCT ON (agent_id) agent_id, seq, hash FROM pass_event WHERE tenant_id = :t "
            "ORDER BY agent_id, seq DESC"
        ),
        {"t": tenant_id},
    )
    agents = {str(r.agent_id): {"seq": int(r.seq), "hash": str(r.hash)} for r in rows}
    seq, head = _head(session, tenant_id)
    return {"agents": agents, "cloud": {"seq": seq, "hash": head}}


def anchor_json(row: m.ChainAnchor | Mapping[str, Any]) -> dict[str, Any]:
    """The portable form of an anchor (what verifiers keep outside the database)."""

    def get(name: str) -> Any:
        return row[name] if isinstance(row, Mapping) else getattr(row, name)

    anchored = get("anchored_at")
    return {
        "id": str(get("id")),
        "tenant_id": str(get("tenant_id")),
        "kind": get("kind"),
        "business_day": get("business_day").isoformat(),
        "anchored_at": anchored.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "heads": get("heads"),
        "prev_anchor_hash": get("prev_anchor_hash"),
        "anchor_hash": get("anchor_hash"),
    }


def make_anchor(session: Session, tenant_id: uuid.UUID, kind: str, actor: uuid.UUID | None) -> dict[str, Any]:
    """Seal everything pending, then record and return a new anchor of the tenant's chain heads."""
    seal(session, tenant_id)
    head = heads(session, tenant_id)
    previous = session.execute(
        select(m.ChainAnchor.anchor_hash)
        .where(m.ChainAnchor.tenant_id == tenant_id)
        .order_by(m.ChainAnchor.anchored_at.desc(), m.ChainAnchor.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    now = dt.datetime.now(dt.UTC)
    day = now.astimezone(_SHANGHAI).date()
    prev = previous or GENESIS
    digest = anchor_hash(
        tenant_id=tenant_id, kind=kind, business_day=day, heads=head, prev_anchor_hash=prev, anchored_at=now
    )
    row = m.ChainAnchor(
        tenant_id=tenant_id,
        id=uuid.uuid4(),
        kind=kind,
        business_day=day,
        heads=head,
        prev_anchor_hash=prev,
        anchor_hash=digest,
        anchored_at=now,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    return anchor_json(row)


def list_anchors(session: Session, tenant_id: uuid.UUID, limit: int = 100) -> list[dict[str, Any]]:
    """The newest anchors of the tenant, newest first."""
    rows = session.scalars(
        select(m.ChainAnchor)
        .where(m.ChainAnchor.tenant_id == tenant_id)
        .order_by(m.ChainAnchor.anchored_at.desc(), m.ChainAnchor.id.desc())
        .limit(limit)
    )
    return [anchor_json(r) for r in rows]


# Verification -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """The first broken link of one chain."""

    chain: str  # "agent:<agent id>", "cloud" or "anchors"
    code: str
    message: str  # Chinese
    record_type: str | None = None
    record_id: str | None = None
    seq: int | None = None


@dataclass
class VerifyReport:
    """What :func:`verify` found; ``problems`` holds the first broken link of each broken chain."""

    tenant_id: str
    agent_events: int = 0
    agents: int = 0
    cloud_records: int = 0
    anchors_checked: int = 0
    unsealed_recent: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Tell whether every chain is intact and agrees with every anchor."""
        return not self.problems

    @property
    def first(self) -> Problem | None:
        """The first problem found (agent chains first, then the cloud chain, then anchors)."""
        return self.problems[0] if self.problems else None

    def summary(self) -> str:
        """One Chinese sentence for people."""
        if self.ok:
            return (
                f"校验通过：{self.agents} 个代理链共 {self.agent_events} 条通行记录、"
                f"云端链 {self.cloud_records} 条记录、{self.anchors_checked} 个锚点均一致"
            )
        first = self.first
        assert first is not None
        return f"校验未通过：{first.message}（共 {len(self.problems)} 处问题）"


_DECODER: Final = msgspec.json.Decoder(PassEvent)


#: Columns of a stored pass event that are a projection of the event the agent sealed (the rest, such as
#: the vehicle version, the cloud adds: cloud.ledger.passes).
_PROJECTED: Final = (
    "id",
    "agent_id",
    "site_id",
    "lane_id",
    "seq",
    "direction",
    "occurred_at",
    "plate",
    "plate_colour",
    "internal_code",
    "decision",
    "reason_codes",
    "trigger",
    "operator",
    "operator_name",
    "manual_reason",
    "manual_photo_sha256",
    "release_channel",
    "plate_source",
    "related_event_id",
    "emergency_level",
    "cargo_name",
    "anomaly_flags",
    "scene_sha256",
    "plate_sha256",
    "prev_hash",
    "hash",
)


def _row_columns(row: Mapping[str, Any], event: PassEvent) -> list[str]:
    """Columns of a stored pass event that disagree with the event the agent sent (the ledger's projection)."""
    source = ledger_passes.AgentSource(row["tenant_id"], uuid.UUID(event.site_id), uuid.UUID(event.agent_id))
    expected = ledger_passes.row_of(source, event, None)
    return [name for name in _PROJECTED if row[name] != expected[name]]


def _verify_agent(  # noqa: C901, PLR0911 - one checklist per record
    session: Session, tenant_id: uuid.UUID, agent_id: uuid.UUID, report: VerifyReport
) -> tuple[int, str] | Problem:
    """Walk one agent's chain in seq order; the head (seq, hash) or the first problem."""
    chain = f"agent:{agent_id}"
    table = _table(m.PassEvent)
    expected_seq, expected_prev = 1, GENESIS_HASH
    previous: list[tuple[int, str, str]] = []  # (seq, hash, id) of the last two rows
    last = 0
    while True:
        rows = list(
            session.execute(
                select(table)
                .where(table.c.tenant_id == tenant_id, table.c.agent_id == agent_id, table.c.seq > last)
                .order_by(table.c.seq)
                .limit(_CHUNK)
            ).mappings()
        )
        if not rows:
            return (expected_seq - 1, expected_prev)
        for row in rows:
            seq, rid = int(row["seq"]), str(row["id"])

            def problem(code: str, message: str, *, seq: int = seq, rid: str = rid) -> Problem:
                return Problem(
                    chain,
                    code,
                    f"代理 {agent_id} 的通行记录（序号 {seq}，编号 {rid}）：{message}",
                    "pass_event",
                    rid,
                    seq,
                )

            if seq != expected_seq:
                missing = f"序号 {expected_seq}" if seq == expected_seq + 1 else f"序号 {expected_seq}–{seq - 1}"
                return problem("seq_gap", f"之前的{missing}缺失（记录被删除）")
            try:
                event = _DECODER.decode(msgspec.json.encode(row["payload"]))
            except (msgspec.DecodeError, msgspec.ValidationError):
                return problem("payload", "代理原始记录无法解析（记录被篡改）")
            changed = _row_columns(dict(row), event)
            two_back = previous[0][1] if len(previous) == 2 else (GENESIS_HASH if len(previous) == 1 else None)
            if changed == ["seq"] and previous and event.seq == seq - 1 and event.prev_hash == two_back:
                # Renumbered to make room: the record before it is the one slipped in.
                inserted_seq, _, inserted_id = previous[-1]
                return problem(
                    "inserted",
                    f"该记录不属于代理的哈希链（记录被插入），其后的记录被改号（原序号 {event.seq}）",
                    seq=inserted_seq,
                    rid=inserted_id,
                )
            if changed:
                return problem("columns", f"字段 {', '.join(changed)} 与代理原始记录不符（记录被修改）")
            self_consistent = event.hash == event_hash(event, event.prev_hash)
            if event.prev_hash != expected_prev:
                if len(previous) == 2 and event.prev_hash == previous[0][1]:
                    inserted_seq, _, inserted_id = previous[1]
                    return problem(
                        "inserted",
                        "该记录不属于代理的哈希链（记录被插入），其后一条的前一哈希指向更早的记录",
                        seq=inserted_seq,
                        rid=inserted_id,
                    )
                if self_consistent and previous:
                    edited_seq, _, edited_id = previous[-1]
                    return problem(
                        "rehashed",
                        f"记录内容被修改并重新计算了哈希（其后一条序号 {seq} 的前一哈希与之不符）",
                        seq=edited_seq,
                        rid=edited_id,
                    )
                return problem("prev_hash", "前一记录哈希不符（记录被删除、插入或重排）")
            if not self_consistent:
                return problem("hash", "记录哈希与内容不符（记录被篡改）")
            report.agent_events += 1
            previous = [*previous[-1:], (seq, event.hash, rid)]
            expected_prev = event.hash
            expected_seq += 1
            last = seq


def _verify_cloud(  # noqa: C901, PLR0911 - one checklist per link
    session: Session, tenant_id: uuid.UUID, report: VerifyReport
) -> tuple[int, str, dt.datetime | None] | Problem:
    chain = "cloud"
    links = list(
        session.execute(
            select(m.CloudChainEntry.__table__).where(m.CloudChainEntry.tenant_id == tenant_id).order_by(text("seq"))
        ).mappings()
    )
    contents: dict[str, dict[uuid.UUID, dict[str, Any]]] = {}
    for name, model in CHAINED.items():
        table = _table(model)
        contents[name] = {
            r["id"]: dict(r) for r in session.execute(select(table).where(table.c.tenant_id == tenant_id)).mappings()
        }
    expected_seq, prev = 1, GENESIS
    head_time: dt.datetime | None = None
    sealed: set[tuple[str, uuid.UUID]] = set()
    for link in links:
        seq, rtype, rid = int(link["seq"]), str(link["record_type"]), link["record_id"]

        def problem(code: str, message: str, *, seq: int = seq, rtype: str = rtype, rid: uuid.UUID = rid) -> Problem:
            return Problem(
                chain,
                code,
                f"云端链第 {seq} 条（{_TYPE_LABELS.get(rtype, rtype)} {rid}）：{message}",
                rtype,
                str(rid),
                seq,
            )

        if seq != expected_seq:
            return problem("seq_gap", f"之前的序号 {expected_seq} 缺失（链记录被删除）")
        if link["prev_hash"] != prev:
            return problem("prev_hash", "前一链记录哈希不符（链记录被删除、插入或重排）")
        digest = link_hash(
            tenant_id=tenant_id, seq=seq, record_type=rtype, record_id=rid, content=link["content_hash"], prev_hash=prev
        )
        if link["hash"] != digest:
            return problem("hash", "链记录哈希与内容不符（链记录被篡改）")
        row = contents.get(rtype, {}).get(rid)
        if row is None:
            return problem("deleted", "所封存的记录已不存在（记录被删除）")
        if content_hash(rtype, row) != link["content_hash"]:
            return problem("content", "记录内容与封存时不符（记录被修改）")
        sealed.add((rtype, rid))
        prev = str(link["hash"])
        head_time = link["created_at"]
        expected_seq += 1
        report.cloud_records += 1
    # Rows never sealed: older than the head's sealing they were written behind the application's back.
    for name, rows in contents.items():
        for rid, row in sorted(rows.items(), key=lambda item: item[1]["created_at"]):
            if (name, rid) in sealed:
                continue
            if head_time is not None and row["created_at"] <= head_time:
                return Problem(
                    chain,
                    "unsealed",
                    f"{_TYPE_LABELS.get(name, name)} {rid} 未被云端链封存，且早于最近一次封存（疑似绕过应用直接插入）",
                    name,
                    str(rid),
                    None,
                )
            report.unsealed_recent += 1
    return (expected_seq - 1, prev, head_time)


_TYPE_LABELS: Final = {
    "vehicle_version": "车辆台账版本",
    "vehicle_document": "车辆证件",
    "vehicle_review": "车辆复核",
    "check_flag": "逻辑校验标记",
    "check_resolution": "标记处理记录",
    "policy_version": "管控策略版本",
    "emergency_response": "应急响应记录",
    "blacklist_entry": "黑名单记录",
    "blacklist_revocation": "黑名单撤销记录",
    "audit_sample": "抽查样本",
    "pass_correction": "通行记录更正",
}


def _check_anchor(session: Session, tenant_id: uuid.UUID, anchor: Mapping[str, Any], source: str) -> Problem | None:  # noqa: PLR0911
    aid = str(anchor.get("id", ""))
    label = f"{source}锚点 {aid or anchor.get('anchor_hash', '')[:12]}（{anchor.get('anchored_at', '')}）"
    try:
        digest = anchor_hash(
            tenant_id=tenant_id,
            kind=str(anchor["kind"]),
            business_day=str(anchor["business_day"]),
            heads=anchor["heads"],
            prev_anchor_hash=str(anchor["prev_anchor_hash"]),
            anchored_at=str(anchor["anchored_at"]),
        )
    except (KeyError, TypeError, ValueError):
        return Problem("anchors", "anchor_format", f"{label}格式错误")
    if str(anchor.get("tenant_id", tenant_id)) != str(tenant_id):
        return Problem("anchors", "anchor_tenant", f"{label}属于另一个企业")
    if digest != anchor.get("anchor_hash"):
        return Problem("anchors", "anchor_hash", f"{label}的哈希与内容不符（锚点被篡改）")
    heads_: Mapping[str, Any] = anchor["heads"]
    for agent, head in sorted((heads_.get("agents") or {}).items()):
        seq, expected = int(head["seq"]), str(head["hash"])
        found = session.execute(
            select(m.PassEvent.hash, m.PassEvent.id).where(
                m.PassEvent.tenant_id == tenant_id, m.PassEvent.agent_id == uuid.UUID(agent), m.PassEvent.seq == seq
            )
        ).one_or_none()
        if found is None:
            return Problem(
                f"agent:{agent}",
                "anchor_missing",
                f"代理 {agent} 的通行记录序号 {seq} 已在{label}中锚定，但数据库中已不存在（最新记录被删除）",
                "pass_event",
                None,
                seq,
            )
        if found.hash != expected:
            return Problem(
                f"agent:{agent}",
                "anchor_mismatch",
                f"代理 {agent} 的通行记录序号 {seq} 的哈希与{label}不符（哈希链被整体重算）",
                "pass_event",
                str(found.id),
                seq,
            )
    cloud = heads_.get("cloud") or {}
    seq = int(cloud.get("seq", 0))
    if seq:
        found_hash = session.execute(
            select(m.CloudChainEntry.hash).where(m.CloudChainEntry.tenant_id == tenant_id, m.CloudChainEntry.seq == seq)
        ).scalar_one_or_none()
        if found_hash is None:
            return Problem(
                "cloud",
                "anchor_missing",
                f"云端链第 {seq} 条已在{label}中锚定，但已不存在（最新记录被删除）",
                None,
                None,
                seq,
            )
        if found_hash != cloud.get("hash"):
            return Problem(
                "cloud", "anchor_mismatch", f"云端链第 {seq} 条的哈希与{label}不符（云端链被整体重算）", None, None, seq
            )
    return None


def verify(session: Session, tenant_id: uuid.UUID, external: Sequence[Mapping[str, Any]] = ()) -> VerifyReport:
    """Verify every agent chain, the cloud chain and the anchors of a tenant (read-only).

    Args:
        session: a sync session (regulators' read-only sessions work too).
        tenant_id: the enterprise.
        external: anchors the verifier kept outside the database (``anchor_json`` form).
    """
    report = VerifyReport(str(tenant_id))
    agents = session.scalars(
        select(m.PassEvent.agent_id).where(m.PassEvent.tenant_id == tenant_id).distinct().order_by(m.PassEvent.agent_id)
    ).all()
    report.agents = len(agents)
    for agent in agents:
        result = _verify_agent(session, tenant_id, agent, report)
        if isinstance(result, Problem):
            report.problems.append(result)
    cloud = _verify_cloud(session, tenant_id, report)
    if isinstance(cloud, Problem):
        report.problems.append(cloud)
    stored = session.execute(
        select(m.ChainAnchor.__table__).where(m.ChainAnchor.tenant_id == tenant_id).order_by(text("anchored_at, id"))
    ).mappings()
    prev = GENESIS
    anchors: list[tuple[dict[str, Any], str]] = []
    stored_by_id: dict[str, str] = {}
    for row in stored:
        doc = anchor_json(dict(row))
        if doc["prev_anchor_hash"] != prev:
            report.problems.append(
                Problem("anchors", "anchor_chain", f"数据库锚点 {doc['id']} 的前一锚点哈希不符（锚点被删除或插入）")
            )
            break
        prev = doc["anchor_hash"]
        stored_by_id[doc["id"]] = doc["anchor_hash"]
        anchors.append((doc, "数据库"))
    for given in external:
        doc = dict(given)
        known = stored_by_id.get(str(doc.get("id", "")))
        if known is not None and known != doc.get("anchor_hash"):
            report.problems.append(
                Problem(
                    "anchors",
                    "anchor_rewritten",
                    f"外部保存的锚点 {doc.get('id')} 与数据库中的同一锚点不符（锚点被改写）",
                )
            )
        anchors.append((doc, "外部保存的"))
    seen: set[str] = {p.chain for p in report.problems}
    for doc, source in anchors:
        report.anchors_checked += 1
        found = _check_anchor(session, tenant_id, doc, source)
        if found is not None and found.chain not in seen:
            report.problems.append(found)
            seen.add(found.chain)
    return report


def report_json(report: VerifyReport) -> dict[str, Any]:
    """The report as JSON-ready builtins (API and CLI)."""
    problems = [
        {
            "chain": p.chain,
            "code": p.code,
            "message": p.message,
            "record_type": p.record_type,
            "record_id": p.record_id,
            "seq": p.seq,
        }
        for p in report.problems
    ]
    return {
        "tenant_id": report.tenant_id,
        "ok": report.ok,
        "summary": report.summary(),
        "agents": report.agents,
        "agent_events": report.agent_events,
        "cloud_records": report.cloud_records,
        "anchors_checked": report.anchors_checked,
        "unsealed_recent": report.unsealed_recent,
        "first_problem": problems[0] if problems else None,
        "problems": problems,
    }
