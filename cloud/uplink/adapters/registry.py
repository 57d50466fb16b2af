"""What a pass record carries from the registry, the weighbridge and the pre-pass check (issue 15).

The uplink worker's claim selects :data:`CLAIM_COLUMNS` next to the pass event ``e`` and the vehicle
version ``v`` valid at the pass time; :func:`record_fields` turns those columns into the registry part of an
:class:`~cloud.uplink.adapters.base.UplinkRecord`. Keeping both here means a field a platform family asks
for is added in one place (this module, the adapter's payload and its ``REGISTRY_FIELDS``), not in the
worker.

* Registry: every §1.4.2 (a) field of the vehicle version valid at the pass time. A missing 号牌种类 is
  derived from the plate and its colour (``hj1321.vehicles.plate_type_for``, [I]) — the plate decides it.
* Net weight: the newest weighing of the pass that carries a net (the exit pass of a weighed trip,
  ``weighing.net_kg``, docs/devices.md "Weighing ↔ pass"), else the agent's payload (older agents; the claim
  selects it as text, ``payload_net_kg``).
* Platform serial: a ``/transport/check`` answered for this plate at this lane shortly before the pass
  (``precheck_serial``, written by cloud/hub/precheck.py) and not yet used by another record; the record is
  then sent under it instead of asking the platform a second time (docs/uplink.md "One check per vehicle").
"""

# SQL here is assembled from module constants only.
# ruff: noqa: S608

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from hj1321.errors import InvalidValueError
from hj1321.plates import PlateColour, parse_plate
from hj1321.vehicles import plate_type_for

#: A pre-pass check's serial belongs to a pass of the same plate and lane within this window around the
#: pass time (agent clock vs cloud clock; the check is made while the truck waits at the barrier) [I].
PRECHECK_BEFORE = dt.timedelta(minutes=5)
PRECHECK_AFTER = dt.timedelta(minutes=1)

#: Extra SELECT columns of the uplink claim (``e`` = pass_event, ``v`` = the vehicle version at pass time).
#: Built from constants only.
CLAIM_COLUMNS: Final = f"""
       v.plate_type, v.brand_model, v.engine_model, v.engine_maker, v.engine_no, v.env_list_no,
       v.owner_name, v.owner_address,
       (SELECT w.net_kg FROM weighing w
        WHERE w.tenant_id = e.tenant_id AND w.pass_event_id = e.id AND w.net_kg IS NOT NULL
        ORDER BY w.received_at DESC, w.id DESC LIMIT 1) AS weighed_net_kg,
       (SELECT s.platform_serial FROM precheck_serial s
        WHERE s.tenant_id = e.tenant_id AND s.lane_id = e.lane_id AND s.plate = e.plate
          AND s.issued_at >= e.occurred_at - interval '{int(PRECHECK_BEFORE.total_seconds())} seconds'
          AND s.issued_at <= e.occurred_at + interval '{int(PRECHECK_AFTER.total_seconds())} seconds'
          AND NOT EXISTS (SELECT 1 FROM uplink_outbox u WHERE u.tenant_id = s.tenant_id
                          AND u.platform_serial = s.platform_serial AND u.id <> e.id)
        ORDER BY s.issued_at DESC LIMIT 1) AS precheck_serial"""


def _decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _plate_type(row: Any) -> str | None:
    if getattr(row, "plate_type", None):
        return str(row.plate_type)
    return _plate_type_of(row.plate, row.plate_colour)


@functools.lru_cache(maxsize=8192)
def _plate_type_of(plate_text: str, colour_code: str | None) -> str | None:
    """The plate type derived from a plate and its colour (cached: the same trucks pass every day; issue 20)."""
    try:
        plate = parse_plate(plate_text)
        colour = PlateColour(colour_code) if colour_code else None
    except (InvalidValueError, ValueError):
        return None
    return plate_type_for(plate, colour).code


def record_fields(row: Any, *, derive_plate_type: bool = True) -> dict[str, Any]:
    """The registry, weighing and pre-pass-check fields of a claimed row, as ``UplinkRecord`` keywords.

    ``derive_plate_type=False``: the registry's plate type only, none derived from the plate (for a family
    whose ``REGISTRY_FIELDS`` does not send it: deriving cost ~5 µs per new plate, issue 20 session 8).
    """
    net = row.weighed_net_kg if row.weighed_net_kg is not None else row.payload_net_kg
    return {
        "plate_type": _plate_type(row) if derive_plate_type else (str(row.plate_type) if row.plate_type else None),
        "brand_model": row.brand_model,
        "engine_model": row.engine_model,
        "engine_maker": row.engine_maker,
        "engine_no": row.engine_no,
        "env_list_no": row.env_list_no,
        "owner_name": row.owner_name,
        "owner_address": row.owner_address,
        "net_kg": _decimal(net),
        "platform_serial": row.platform_serial or row.precheck_serial,
    }
