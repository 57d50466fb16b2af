"""The weighbridge-software connector (无人值守称重, issue 15): push and import tickets, review the unmatched.

Tickets are matched to passes by plate and time (``cloud.ledger.connector``; the rule is in
docs/devices.md "Weighbridge software records") and stored as weighings; the ones no pass can be given
to wait in the review list until a person assigns them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Final

import msgspec
from litestar import get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, MultipartBody
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.ledger import connector, weighings
from cloud.lib.problems import ProblemError
from frontend_api.api.schemas import Limit
from tenants.context import Principal, Role

#: Who may push, import and assign tickets (an integration account of the plant is a manager).
WRITERS: Final = {"roles": frozenset({Role.TENANT_ADMIN, Role.MANAGER})}
_MAX_FILE_BYTES: Final = 20 * 1024 * 1024

Kg = Decimal  # range checked by the connector (a Chinese message per field)
Text64 = Annotated[str, msgspec.Meta(max_length=64)]


class TicketIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One ticket (磅单) of the weighbridge software; weights in kilograms, time China time unless offset."""

    ticket_no: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="磅单号（去重键）")]
    plate: Annotated[str, msgspec.Meta(max_length=16, description="车牌号码")]
    weighed_at: Annotated[str, msgspec.Meta(max_length=40, description="称重（完成）时间")]
    gross_kg: Kg | None = None
    tare_kg: Kg | None = None
    net_kg: Kg | None = None
    cargo_name: Text64 | None = None
    direction: Annotated[str, msgspec.Meta(max_length=8, description="进厂/出厂（可选）")] | None = None
    site: Annotated[str, msgspec.Meta(max_length=100, description="厂区名称（多厂区企业必填）")] | None = None


class PushIn(msgspec.Struct, forbid_unknown_fields=True):
    """A batch of tickets, stored all or nothing."""

    records: Annotated[list[TicketIn], msgspec.Meta(min_length=1, max_length=connector.MAX_PUSH)]


class OutcomeOut(msgspec.Struct):
    """What became of one ticket."""

    ticket_no: str
    status: str
    status_label: str
    weighing_id: uuid.UUID
    pass_event_id: uuid.UUID | None


class OutcomesOut(msgspec.Struct):
    """Every ticket's outcome, and the counts per outcome."""

    counts: dict[str, int]
    items: list[OutcomeOut]


def _outcomes(items: list[connector.Outcome]) -> OutcomesOut:
    counts: dict[str, int] = {}
    for o in items:
        counts[o.status] = counts.get(o.status, 0) + 1
    return OutcomesOut(
        counts,
        [
            OutcomeOut(o.ticket_no, o.status, connector.STATUS_LABELS[o.status], o.weighing_id, o.pass_event_id)
            for o in items
        ],
    )


@post("/weighbridge/records", operation_id="PushWeighbridgeRecords", opt=WRITERS, status_code=200)
async def push_records(
    data: JSONBody[PushIn], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> OutcomesOut:
    """Push tickets from the weighbridge software; each is matched to a pass or kept for review."""
    items = [{k: v for k, v in msgspec.to_builtins(t).items() if v is not None} for t in data.records]
    async with session.begin():
        outcomes = await connector.push_records(session, principal, items)
    return _outcomes(outcomes)


@dataclass
class TicketImport:
    """An Excel/CSV export of the weighbridge software: 磅单号, 车牌号码, 称重时间, 毛重/皮重/净重 (kg), …"""

    file: UploadFile


@post("/weighbridge/imports", operation_id="ImportWeighbridgeRecords", opt=WRITERS, status_code=200)
async def import_records(
    data: MultipartBody[TicketImport], session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
) -> OutcomesOut:
    """Import a file of tickets: every row valid, or nothing stored (errors per row and field)."""
    content = await data.file.read(_MAX_FILE_BYTES + 1)
    if len(content) > _MAX_FILE_BYTES:
        raise ProblemError(413, "file_too_large", "文件过大", "导入文件最大 20 MB")
    async with session.begin():
        outcomes = await connector.import_file(session, principal, content, data.file.filename or "")
    return _outcomes(outcomes)


class UnattributedOut(msgspec.Struct):
    """A weighing no pass holds yet."""

    id: uuid.UUID
    site_id: uuid.UUID
    occurred_at: dt.datetime
    plate: str | None
    weight_kg: Decimal
    gross_kg: Decimal | None
    tare_kg: Decimal | None
    net_kg: Decimal | None
    cargo_name: str | None
    source: str
    source_label: str
    ticket_no: str | None


@get("/weighbridge/unattributed", operation_id="ListUnattributedWeighings")
async def list_unattributed(
    session: NamedDependency[AsyncSession], principal: NamedDependency[Principal], limit: FromQuery[Limit] = 50
) -> list[UnattributedOut]:
    """Weighings no pass could be given to (connector tickets, agent weights), newest first."""
    if principal.tenant_id is None:
        return []
    async with session.begin():
        rows = await weighings.unattributed_weighings(session, principal.tenant_id, limit=limit)
    return [
        UnattributedOut(
            r.id, r.site_id, r.occurred_at, r.plate, r.weight_kg, r.gross_kg, r.tare_kg, r.net_kg, r.cargo_name,
            r.source, weighings.SOURCES.get(r.source, r.source), r.external_ref,
        )
        for r in rows
    ]  # fmt: skip


class AssignIn(msgspec.Struct, forbid_unknown_fields=True):
    """The pass a person gives an unattributed weighing to."""

    pass_event_id: uuid.UUID


@post(
    "/weighbridge/unattributed/{weighing_id:uuid}/assign",
    operation_id="AssignWeighing",
    opt=WRITERS,
    status_code=200,
)
async def assign(
    weighing_id: FromPath[uuid.UUID],
    data: JSONBody[AssignIn],
    session: NamedDependency[AsyncSession],
    principal: NamedDependency[Principal],
) -> OutcomeOut:
    """Assign an unattributed weighing to a pass (a new record naming the old one; append-only)."""
    if principal.tenant_id is None:
        raise ProblemError(403, "forbidden", "无权操作", "只有企业账号可以指定称重记录")
    async with session.begin():
        row = await weighings.attach_weighing_to_pass(
            session, principal.tenant_id, weighing_id, data.pass_event_id, by_login=principal.login
        )
    return OutcomeOut(row.external_ref or "", "matched", "已关联通行记录", row.id, row.pass_event_id)


HANDLERS = [push_records, import_records, list_unattributed, assign]
