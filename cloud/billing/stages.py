"""The dunning state machine (pure): a subscription's status and dates → the stage a tenant is in.

::

    trialing ──checkout paid──▶ active ◀──────────── paid (card or 对公转账) ───────────┐
       │ trial ends unpaid         │ payment fails                                    │
       ▼                           ▼                                                  │
    past_due ──PAST_DUE_DAYS──▶ grace ──GRACE_DAYS──▶ restricted ─────────────────────┘

* ``past_due``: the card failed, Stripe retries; a banner in the portal.
* ``grace``: retries are over; banner with the deadline, a notice in the outbox.
* ``restricted``: gated management actions refused (adding sites/lanes, enrolling agents, extra export
  formats, extra regulator profiles). The gate, the ledger, the uplink, regulator reads and the tenant's
  own ledger and exports carry on (ADR 0033).

While a subscription stays past due the stage only moves forward (a late or replayed event never takes a
restricted tenant back to grace); it resets when the subscription is paid.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

PAST_DUE_DAYS: Final = 3
GRACE_DAYS: Final = 14
ORDER: Final = ("trialing", "active", "past_due", "grace", "restricted")
LABELS: Final = {
    "trialing": "试用中",
    "active": "正常",
    "past_due": "付款失败",
    "grace": "宽限期",
    "restricted": "已受限",
}
STATUS_LABELS: Final = {"trialing": "试用中", "active": "已订阅", "past_due": "逾期未付", "canceled": "已取消"}


def stage_of(status: str, past_due_since: dt.datetime | None, trial_ends_at: dt.datetime, now: dt.datetime) -> str:
    """The stage of an account now (before the forward-only rule of :func:`next_stage`)."""
    if status == "trialing":
        if now < trial_ends_at:
            return "trialing"
        past_due_since = past_due_since or trial_ends_at
    elif status == "active":
        return "active"
    elif status == "canceled":
        return "restricted"
    since = past_due_since or now
    overdue = now - since
    if overdue < dt.timedelta(days=PAST_DUE_DAYS):
        return "past_due"
    if overdue < dt.timedelta(days=PAST_DUE_DAYS + GRACE_DAYS):
        return "grace"
    return "restricted"


def next_stage(current: str, computed: str) -> str:
    """Forward only while unpaid: a dunning stage never goes back to an earlier dunning stage."""
    dunning = ("past_due", "grace", "restricted")
    if current in dunning and computed in dunning:
        return max(current, computed, key=ORDER.index)
    return computed


def grace_ends(past_due_since: dt.datetime | None) -> dt.datetime | None:
    """When a past-due account becomes restricted."""
    if past_due_since is None:
        return None
    return past_due_since + dt.timedelta(days=PAST_DUE_DAYS + GRACE_DAYS)


def status_of_subscription(stripe_status: str) -> str:
    """Our account status for a Stripe subscription status."""
    if stripe_status in {"active", "trialing"}:
        return "active" if stripe_status == "active" else "trialing"
    if stripe_status in {"canceled", "incomplete_expired"}:
        return "canceled"
    return "past_due"  # past_due, unpaid, incomplete, paused
