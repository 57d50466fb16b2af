"""The weighbridge-software connector: a plant's 无人值守称重 records matched to passes (issue 15, item 2).

Many plants already run weighbridge software with its own tickets (磅单: number, plate, gross, tare,
net, cargo, time). This connector takes those records — an Excel/CSV file (:func:`import_file`) or an
HTTP push (:func:`push_records`, ``POST /api/v1/weighbridge/records``) — validates every field, matches
each record to a pass by plate and time, and stores it through :func:`cloud.ledger.weighings.record_weighing`
(source ``connector``, idempotent on the ticket number). A record no pass can be given to is stored
with no pass and listed for review (``GET /api/v1/weighbridge/unattributed``); a person assigns it
(``attach_weighing_to_pass``). It is never put on a guessed pass.

The matching rule (docs/devices.md "Weighbridge software records"):

* candidates: **allowed** pass events of the same canonical plate at the record's site whose time lies
  in ``[weighed_at − MATCH_BEFORE, weighed_at + MATCH_AFTER]`` (the ticket is completed at the last
  weighing, which comes after the entry and before the exit of the trip);
* direction: a ticket with a net weight (a complete trip: gross and tare) belongs to the trip's **exit**
  pass, where the agent also puts a trip's gross/tare/net; a ticket marked 进厂/出厂 goes to a pass of
  that direction; without either, any direction;
* the nearest candidate in time wins; a pass that already holds another ticket of the connector is
  skipped; two candidates equally near (within :data:`TIE_SECONDS`) are ambiguous → unattributed.

Imports are all-or-nothing: one refused row refuses the file, with every row's field errors in Chinese
(422 ``import_rows_invalid``); the rows are streamed and capped (:data:`MAX_ROWS`) before anything is
matched. Re-importing a file stores nothing twice (the ticket number is the key).
"""

# SQL here is built with SQLAlchemy expressions only.

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.compliance.tables import map_headers, row_values
from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import CHINA_TZ, require_tenant
from cloud.ledger import weighings
from cloud.lib.problems import FieldError, ProblemError
from cloud.lib.spreadsheets import read_table
from hj1321.errors import InvalidValueError
from hj1321.plates import parse_plate
from tenants.context import Principal
from tenants.ids import new_id

#: A pass up to this long before the ticket's time can be its pass (the entry of a short trip) [I].
MATCH_BEFORE: Final = dt.timedelta(hours=2)
#: ... and up to this long after it (the exit follows the last weighing) [I].
MATCH_AFTER: Final = dt.timedelta(hours=1)
#: Two candidates whose distances to the ticket differ by less than this are ambiguous.
TIE_SECONDS: Final = 1.0
#: Rows one import or push may hold (read before anything is matched).
MAX_ROWS: Final = 5_000
MAX_PUSH: Final = 500
_MAX_KG: Final = Decimal(200_000)
_TICKET_MAX: Final = 64
_ERRORS_SHOWN: Final = 20
#: Allowed difference between gross − tare and a given net (rounding of the software) [I].
_NET_TOLERANCE_KG: Final = Decimal(1)

#: Columns of an import file: field → accepted Chinese headers (the software's exports vary).
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "ticket_no": ("磅单号", "单号", "称重单号", "流水号", "ticket_no"),
    "plate": ("车牌号码", "车牌号", "车牌", "plate"),
    "weighed_at": ("称重时间", "过磅时间", "完成时间", "二次称重时间", "weighed_at"),
    "gross_kg": ("毛重(kg)", "毛重kg", "毛重", "gross_kg"),
    "tare_kg": ("皮重(kg)", "皮重kg", "皮重", "tare_kg"),
    "net_kg": ("净重(kg)", "净重kg", "净重", "net_kg"),
    "cargo_name": ("货物名称", "货名", "物料名称", "cargo_name"),
    "direction": ("进出厂", "进出方向", "方向", "direction"),
    "site": ("厂区", "site"),
}
_REQUIRED: Final = ("ticket_no", "plate", "weighed_at", ("net_kg", "gross_kg"))
_DIRECTIONS: Final[dict[str, Literal["in", "out"]]] = {
    "进厂": "in",
    "入厂": "in",
    "进": "in",
    "in": "in",
    "出厂": "out",
    "出": "out",
    "out": "out",
}
_TIME_FORMATS: Final = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y%m%d%H%M%S")
LABELS: Final = {
    "ticket_no": "磅单号",
    "plate": "车牌号码",
    "weighed_at": "称重时间",
    "gross_kg": "毛重",
    "tare_kg": "皮重",
    "net_kg": "净重",
    "cargo_name": "货物名称",
    "direction": "进出厂",
    "site": "厂区",
}


@dataclass(frozen=True)
class SoftwareRecord:
    """One validated ticket of the weighbridge software (kilograms; times aware)."""

    ticket_no: str
    plate: str
    weighed_at: dt.datetime
    weight_kg: Decimal
    gross_kg: Decimal | None
    tare_kg: Decimal | None
    net_kg: Decimal | None
    cargo_name: str | None
    direction: Literal["in", "out"] | None
    site_id: uuid.UUID


STATUS_LABELS: Final = {"matched": "已关联通行记录", "unattributed": "未能关联，待人工指定", "duplicate": "已导入过"}


@dataclass(frozen=True)
class Outcome:
    """What became of one ticket: ``matched`` (to ``pass_event_id``), ``unattributed`` or ``duplicate``."""

    ticket_no: str
    status: str
    weighing_id: uuid.UUID
    pass_event_id: uuid.UUID | None


# Validation -------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _weight(value: Any, field: str) -> Decimal | None:
    text = _text(value).replace(",", "")
    if not text:
        return None
    try:
        kg = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{LABELS[field]}“{value}”应为数字（千克）") from None
    if not kg.is_finite() or kg < 0 or kg > _MAX_KG:
        raise ValueError(f"{LABELS[field]}“{value}”应在 0 至 200000 千克之间")
    return kg.quantize(Decimal("0.1"))


def _parse_time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    for fmt in _TIME_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt)  # noqa: DTZ007 - naive: China time, set by the caller
        except ValueError:
            continue
    return None


def _time(value: Any) -> dt.datetime:
    at = value if isinstance(value, dt.datetime) else _parse_time(_text(value))
    if at is None:
        raise ValueError(f"称重时间“{_text(value)}”格式错误，应为 YYYY-MM-DD HH:MM:SS")
    return at.replace(tzinfo=CHINA_TZ) if at.tzinfo is None else at


def _weights(values: Mapping[str, Any], errors: list[FieldError]) -> tuple[Decimal | None, ...]:
    """Gross, tare and net (net = gross − tare when only those are given), checked against each other."""
    parsed: dict[str, Decimal | None] = {}
    for field in ("gross_kg", "tare_kg", "net_kg"):
        try:
            parsed[field] = _weight(values.get(field), field)
        except ValueError as exc:
            errors.append(FieldError(field=field, code=f"{field}.format", message=str(exc)))
            parsed[field] = None
    gross, tare, net = parsed["gross_kg"], parsed["tare_kg"], parsed["net_kg"]
    if net is None and gross is not None and tare is not None:
        net = gross - tare
    if gross is not None and tare is not None and tare > gross:
        errors.append(FieldError(field="tare_kg", code="tare_kg.over_gross", message="皮重不能大于毛重"))
    elif gross is not None and tare is not None and net is not None and abs(gross - tare - net) > _NET_TOLERANCE_KG:
        errors.append(FieldError(field="net_kg", code="net_kg.mismatch", message=f"净重 {net} 不等于毛重减皮重"))
    if gross is None and net is None and not any(e.field in {"gross_kg", "net_kg"} for e in errors):
        errors.append(FieldError(field="net_kg", code="net_kg.required", message="必须填写净重或毛重"))
    return gross, tare, net


def _site(values: Mapping[str, Any], sites: Mapping[str, uuid.UUID], errors: list[FieldError]) -> uuid.UUID | None:
    name = _text(values.get("site"))
    if name:
        if name not in sites:
            errors.append(FieldError(field="site", code="site.unknown", message=f"未知的厂区“{name}”"))
        return sites.get(name)
    if len(sites) == 1:
        return next(iter(sites.values()))
    errors.append(FieldError(field="site", code="site.required", message="本企业有多个厂区，必须填写厂区"))
    return None


def _when(values: Mapping[str, Any], errors: list[FieldError]) -> dt.datetime | None:
    raw = values.get("weighed_at")
    if not isinstance(raw, dt.datetime) and not _text(raw):
        errors.append(FieldError(field="weighed_at", code="weighed_at.required", message="必须填写称重时间"))
        return None
    try:
        return _time(raw)
    except ValueError as exc:
        errors.append(FieldError(field="weighed_at", code="weighed_at.format", message=str(exc)))
        return None


def validate(
    values: Mapping[str, Any], sites: Mapping[str, uuid.UUID]
) -> tuple[SoftwareRecord | None, list[FieldError]]:
    """One ticket from raw values (file cells or JSON), or every field error of it (Chinese messages).

    ``sites``: the tenant's site names → ids; a ticket without a site belongs to the only site.
    """
    errors: list[FieldError] = []
    ticket = _text(values.get("ticket_no"))
    if not ticket:
        errors.append(FieldError(field="ticket_no", code="ticket_no.required", message="必须填写磅单号"))
    elif len(ticket) > _TICKET_MAX:
        errors.append(FieldError(field="ticket_no", code="ticket_no.length", message="磅单号最长 64 个字符"))
    plate: str | None = None
    try:
        plate = parse_plate(_text(values.get("plate"))).number
    except InvalidValueError as exc:
        errors.append(FieldError(field="plate", code=exc.code, message=exc.message))
    at = _when(values, errors)
    gross, tare, net = _weights(values, errors)
    raw_direction = _text(values.get("direction"))
    direction = _DIRECTIONS.get(raw_direction.lower()) if raw_direction else None
    if raw_direction and direction is None:
        errors.append(FieldError(field="direction", code="direction.format", message="进出厂应为 进厂 或 出厂"))
    site_id = _site(values, sites, errors)
    if errors or plate is None or at is None or site_id is None:
        return None, errors
    weight = gross if gross is not None else net
    assert weight is not None
    cargo = _text(values.get("cargo_name"))[:64] or None
    return SoftwareRecord(ticket, plate, at, weight, gross, tare, net, cargo, direction, site_id), []


# Matching ---------------------------------------------------------------------------------------------


async def match_pass(session: AsyncSession, tenant_id: uuid.UUID, record: SoftwareRecord) -> uuid.UUID | None:
    """The pass this ticket belongs to by the module's rule, or None (unattributed: no guess)."""
    want = record.direction or ("out" if record.net_kg is not None and record.tare_kg is not None else None)
    taken = (
        select(m.Weighing.id)
        .where(
            m.Weighing.tenant_id == m.PassEvent.tenant_id,
            m.Weighing.pass_event_id == m.PassEvent.id,
            m.Weighing.source == "connector",
            m.Weighing.external_ref != record.ticket_no,
        )
        .exists()
    )
    query = select(m.PassEvent.id, m.PassEvent.occurred_at, m.PassEvent.direction).where(
        m.PassEvent.tenant_id == tenant_id,
        m.PassEvent.site_id == record.site_id,
        m.PassEvent.plate == record.plate,
        m.PassEvent.decision == "allow",
        m.PassEvent.occurred_at >= record.weighed_at - MATCH_BEFORE,
        m.PassEvent.occurred_at <= record.weighed_at + MATCH_AFTER,
        ~taken,
    )
    rows = list(await session.execute(query))
    if want is not None and any(r.direction == want for r in rows):
        rows = [r for r in rows if r.direction == want]
    elif record.direction is not None:
        rows = []
    if not rows:
        return None
    rows.sort(key=lambda r: abs((r.occurred_at - record.weighed_at).total_seconds()))
    if len(rows) > 1:
        first = abs((rows[0].occurred_at - record.weighed_at).total_seconds())
        second = abs((rows[1].occurred_at - record.weighed_at).total_seconds())
        if second - first < TIE_SECONDS:
            return None
    return uuid.UUID(str(rows[0].id))


async def store(session: AsyncSession, tenant_id: uuid.UUID, records: Sequence[SoftwareRecord]) -> list[Outcome]:
    """Match and store validated tickets (inside the caller's transaction); a known ticket is a duplicate."""
    out: list[Outcome] = []
    for record in records:
        known = await session.scalar(
            select(m.Weighing).where(
                and_(
                    m.Weighing.tenant_id == tenant_id,
                    m.Weighing.source == "connector",
                    m.Weighing.external_ref == record.ticket_no,
                )
            )
        )
        if known is not None:
            out.append(Outcome(record.ticket_no, "duplicate", known.id, known.pass_event_id))
            continue
        pass_id = await match_pass(session, tenant_id, record)
        row = await weighings.record_weighing(
            session,
            tenant_id,
            weighings.WeighingRecord(
                id=new_id(),
                site_id=record.site_id,
                occurred_at=record.weighed_at,
                weight_kg=record.weight_kg,
                source="connector",
                pass_event_id=pass_id,
                indicator="称重软件",
                direction=record.direction,
                plate=record.plate,
                gross_kg=record.gross_kg,
                tare_kg=record.tare_kg,
                net_kg=record.net_kg,
                cargo_name=record.cargo_name,
                external_ref=record.ticket_no,
            ),
        )
        out.append(Outcome(record.ticket_no, "matched" if pass_id else "unattributed", row.id, pass_id))
    return out


# Entry points -----------------------------------------------------------------------------------------


async def _sites(session: AsyncSession, tenant_id: uuid.UUID) -> dict[str, uuid.UUID]:
    rows = await session.execute(select(m.Site.name, m.Site.id).where(m.Site.tenant_id == tenant_id))
    return {str(name): site_id for name, site_id in rows}


def _refuse(errors: list[FieldError], rows: int) -> ProblemError:
    detail = "；".join(e.message for e in errors[:_ERRORS_SHOWN])
    more = f"（共 {len(errors)} 处错误）" if len(errors) > _ERRORS_SHOWN else ""
    return ProblemError(
        422,
        "import_rows_invalid",
        "称重记录未导入",
        f"{rows} 条记录中有错误，整批未导入：{detail}{more}",
        errors,
    )


async def push_records(
    session: AsyncSession, principal: Principal, items: Sequence[Mapping[str, Any]]
) -> list[Outcome]:
    """The HTTP push: validate every ticket (all or nothing), then match and store them.

    Raises:
        ProblemError: 422 ``import_rows_invalid`` naming ``records[i].field`` for every error; 413 over
            :data:`MAX_PUSH` tickets.
    """
    tenant_id = require_tenant(principal)
    if len(items) > MAX_PUSH:
        raise ProblemError(413, "too_many_records", "记录过多", f"一次最多推送 {MAX_PUSH} 条称重记录")
    sites = await _sites(session, tenant_id)
    records, errors = [], []
    for i, item in enumerate(items):
        record, row_errors = validate(item, sites)
        errors += [
            FieldError(field=f"records[{i}].{e.field}", code=e.code, message=f"第 {i + 1} 条：{e.message}")
            for e in row_errors
        ]
        if record is not None:
            records.append(record)
    if errors:
        raise _refuse(errors, len(items))
    outcomes = await store(session, tenant_id, records)
    audit.record(session, principal, "weighbridge.pushed", "weighing", new_id(), _counts(outcomes))
    return outcomes


async def import_file(session: AsyncSession, principal: Principal, data: bytes, filename: str) -> list[Outcome]:
    """An Excel/CSV export of the weighbridge software: every row valid, or nothing stored.

    Raises:
        ProblemError: 422 ``import_unreadable``/``import_columns``/``import_too_large`` for the file,
            ``import_rows_invalid`` naming ``第 N 行.field`` for every error of every row.
    """
    tenant_id = require_tenant(principal)
    header, body = await read_table(data, filename, MAX_ROWS)  # streamed and capped before matching
    columns = map_headers(header, COLUMNS, _REQUIRED)
    sites = await _sites(session, tenant_id)
    records, errors = [], []
    for number, cells in body:
        record, row_errors = validate(row_values(cells, columns), sites)
        errors += [
            FieldError(field=f"rows[{number}].{e.field}", code=e.code, message=f"第 {number} 行：{e.message}")
            for e in row_errors
        ]
        if record is not None:
            records.append(record)
    if errors:
        raise _refuse(errors, len(body))
    outcomes = await store(session, tenant_id, records)
    audit.record(
        session, principal, "weighbridge.imported", "weighing", new_id(), {"file": filename[:100], **_counts(outcomes)}
    )
    return outcomes


def _counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return counts
