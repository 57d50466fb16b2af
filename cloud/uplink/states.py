"""The states of an uplink outbox row: what the regulator platform holds (issue 16 finding 5, ADR 0027).

A record the platform stored counts as held even when one of its photos is still missing or was
refused afterwards: the upload rate (:func:`cloud.uplink.outbox.upload_status`) counts what the platform
holds, not what we finished sending. Pages show :data:`LABELS` (Simplified Chinese).
"""

from __future__ import annotations

import enum
from typing import Final


class UplinkState(enum.StrEnum):
    """``uplink_outbox.state``."""

    PENDING = "pending"  # the platform does not hold the record (yet): send it
    PHOTO_PENDING = "photo_pending"  # the record is held; a photo is still to be sent (transient failure)
    PHOTO_REFUSED = "photo_refused"  # the record is held; the platform refused a photo (retried per family)
    DELIVERED = "delivered"  # the record and every photo are held ("record accepted")
    REJECTED = "rejected"  # the platform refused the record itself (review queue)


#: Chinese names on pages and in the API's ``state_label`` fields.
LABELS: Final[dict[str, str]] = {
    UplinkState.PENDING: "待上传",
    UplinkState.PHOTO_PENDING: "记录已接收，照片待补传",
    UplinkState.PHOTO_REFUSED: "记录已接收，照片被拒",
    UplinkState.DELIVERED: "已接收",
    UplinkState.REJECTED: "记录被拒收",
}

#: States in which the platform holds the record (they count in the upload rate).
HELD: Final = (UplinkState.PHOTO_PENDING, UplinkState.PHOTO_REFUSED, UplinkState.DELIVERED)
#: States a worker still has something to send for.
DUE: Final = (UplinkState.PENDING, UplinkState.PHOTO_PENDING, UplinkState.PHOTO_REFUSED)


def label(state: str) -> str:
    """The Chinese name of a state (the raw value when unknown)."""
    return LABELS.get(state, state)


def sql_list(states: tuple[UplinkState, ...]) -> str:
    """``('a', 'b')`` for SQL built from these constants only."""
    return "(" + ", ".join(f"'{s.value}'" for s in states) + ")"
