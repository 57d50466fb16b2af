"""Pushing compliance changes to agents: one call, delivered by the agent hub.

Compliance code never talks to websockets. It calls :func:`notify_agents` inside the transaction
that makes the change; PostgreSQL delivers the ``NOTIFY`` only if that transaction commits, to every
cloud replica, and the hub replica that holds each agent's connection turns it into a
``agent_protocol.messages.Command`` (ARCHITECTURE.md: commands travel by LISTEN/NOTIFY).

Channel :data:`CHANNEL`; payload (JSON, < 8000 bytes)::

    {"tenant_id": "<uuid>", "agent_ids": ["<uuid>", …] | null, "command_id": "<uuid>",
     "name": "<command>", "args": {<str|int|float|bool|null values>}}

``agent_ids`` null means every agent of the tenant. Commands (all idempotent on the agent):

* ``set_emergency_level`` — ``level`` (none/yellow/orange/red), ``starts_at``, ``ends_at`` (ISO UTC),
  ``alert_id``, ``region_code``: apply from ``starts_at`` until ``ends_at`` (the agent reverts by
  itself, so an alert ends on time even offline).
* ``policy_updated`` — ``version``: fetch/replace the control policy snapshot.
* ``blacklist_updated`` / ``registry_updated`` — ``version``: refresh the registry snapshot.
* ``chain_anchor`` — ``anchor_hash``, ``anchored_at``, ``seq``, ``hash``: the agent's own chain head as
  anchored by the cloud (the agent keeps it, so the anchor lives outside the database too).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m

CHANNEL: Final = "ecogate_agent_command"
_MAX_PAYLOAD: Final = 7900

ArgValue = str | int | float | bool | None


async def active_agents(session: AsyncSession, tenant_id: uuid.UUID) -> list[uuid.UUID]:
    """The tenant's active agents (the addressees of a tenant-wide command)."""
    rows = await session.scalars(select(m.Agent.id).where(m.Agent.tenant_id == tenant_id, m.Agent.status == "active"))
    return list(rows)


async def notify_agents(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    name: str,
    args: Mapping[str, ArgValue],
    agent_ids: Sequence[uuid.UUID] | None = None,
) -> str:
    """Queue a command for the tenant's agents; sent when the caller's transaction commits.

    Returns:
        The command id (UUID text), for the agent's ``command_result``.

    Raises:
        ValueError: when the payload would not fit a NOTIFY.
    """
    command_id = str(uuid.uuid4())
    payload = json.dumps(
        {
            "tenant_id": str(tenant_id),
            "agent_ids": None if agent_ids is None else [str(a) for a in agent_ids],
            "command_id": command_id,
            "name": name,
            "args": dict(args),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    if len(payload.encode()) > _MAX_PAYLOAD:
        raise ValueError("指令内容过长，无法通过 NOTIFY 发送")
    await session.execute(select(func.pg_notify(CHANNEL, payload)))
    return command_id
