"""Canonical serialization of cloud-born rows and chain links (version 1, docs/compliance.md).

Any verifier must reproduce these bytes exactly:

* A row is the JSON object ``{"table": <table name>, "row": {<every column>: <value>}}``.
* Values: UUIDs as lowercase hyphenated strings; times in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
  (the agent chain's form, ``agent_protocol.events.format_time``); dates as ``YYYY-MM-DD``;
  decimals as their plain string (``30100.5``); lists and objects recursively; ``null``, booleans,
  integers and strings as JSON; floats in the shortest round-trip form.
* Objects are written with keys sorted by code point, no whitespace, UTF-8, non-ASCII unescaped.

``content_hash`` = hex SHA-256 of ``b"ecogate.row.v1\\n" + canonical(row)``; a cloud-chain link's
``hash`` = hex SHA-256 of ``b"ecogate.cloud.v1\\n" + canonical({"content_hash", "prev_hash",
"record_id", "record_type", "seq", "tenant_id"})``; an anchor's ``anchor_hash`` = hex SHA-256 of
``b"ecogate.anchor.v1\\n" + canonical({"anchored_at", "business_day", "heads", "kind",
"prev_anchor_hash", "tenant_id"})``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

import msgspec

from agent_protocol.events import format_time

ROW_DOMAIN: Final = b"ecogate.row.v1\n"
LINK_DOMAIN: Final = b"ecogate.cloud.v1\n"
ANCHOR_DOMAIN: Final = b"ecogate.anchor.v1\n"
GENESIS: Final = "0" * 64


def canonical_value(value: Any) -> Any:  # noqa: PLR0911 - one branch per type
    """A JSON-ready canonical form of one value (see the module docstring).

    Raises:
        ValueError: for NaN/infinite floats or a type without a canonical form.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("规范化序列化不接受 NaN 或无穷大")
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return format_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return {str(k): canonical_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical_value(v) for v in value]
    raise ValueError(f"无法规范化的类型：{type(value).__name__}")


def canonical_json(value: Any) -> bytes:
    """Sorted-key, compact UTF-8 JSON of the canonical form of ``value``."""
    return msgspec.json.encode(canonical_value(value), order="sorted")


def _sha(domain: bytes, payload: bytes) -> str:
    return hashlib.sha256(domain + payload).hexdigest()


def content_hash(table: str, row: Mapping[str, Any]) -> str:
    """The hash of a row's whole content (every column)."""
    return _sha(ROW_DOMAIN, canonical_json({"table": table, "row": dict(row)}))


def link_hash(
    *, tenant_id: uuid.UUID, seq: int, record_type: str, record_id: uuid.UUID, content: str, prev_hash: str
) -> str:
    """The hash of one cloud-chain link."""
    body = {
        "content_hash": content,
        "prev_hash": prev_hash,
        "record_id": record_id,
        "record_type": record_type,
        "seq": seq,
        "tenant_id": tenant_id,
    }
    return _sha(LINK_DOMAIN, canonical_json(body))


def anchor_hash(
    *,
    tenant_id: uuid.UUID | str,
    kind: str,
    business_day: dt.date | str,
    heads: Mapping[str, Any],
    prev_anchor_hash: str,
    anchored_at: dt.datetime | str,
) -> str:
    """The hash of an anchor (heads of every chain of a tenant at a moment, chained to the previous anchor)."""
    body = {
        "anchored_at": anchored_at,
        "business_day": business_day,
        "heads": dict(heads),
        "kind": kind,
        "prev_anchor_hash": prev_anchor_hash,
        "tenant_id": str(tenant_id),
    }
    return _sha(ANCHOR_DOMAIN, canonical_json(body))
