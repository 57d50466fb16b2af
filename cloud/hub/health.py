"""Agent health as shown to people: online, silent, clock skew, growing queue (docs/sync.md "Health")."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from cloud.db import models as m

#: An agent that sent nothing for this long is flagged silent (heartbeats come every 15 s by default).
SILENT_AFTER: Final = dt.timedelta(seconds=120)
#: An agent seen this recently is shown online.
ONLINE_WITHIN: Final = dt.timedelta(seconds=45)


@dataclass(frozen=True, slots=True)
class AgentHealth:
    """Derived state of one agent row at a moment."""

    online: bool
    silent: bool
    clock_skew: bool
    queue_growing: bool


def assess(agent: m.Agent, now: dt.datetime) -> AgentHealth:
    """Flags from the stored heartbeat (``agent.health``) and ``last_seen_at``."""
    health = agent.health or {}
    seen = agent.last_seen_at
    active = agent.status == "active"
    return AgentHealth(
        online=active and seen is not None and now - seen <= ONLINE_WITHIN,
        silent=active and (seen is None or now - seen > SILENT_AFTER),
        clock_skew=bool(health.get("clock_skew")),
        queue_growing=bool(health.get("queue_growing")),
    )
