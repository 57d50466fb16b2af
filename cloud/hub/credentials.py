"""Agent credentials: ``<agent id>.<secret>``, stored as the SHA-256 of the secret.

For now an agent row and its credential are made by :func:`issue_agent_credential` (tests and
installers' scripts); enrollment with a one-time code issued in the portal comes later.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from cloud.db import models as m
from cloud.db.engine import Database
from tenants.context import Principal, Role


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """An authenticated agent: the tenant and site come only from its row."""

    agent_id: uuid.UUID
    tenant_id: uuid.UUID
    site_id: uuid.UUID

    @property
    def principal(self) -> Principal:
        """The principal the hub acts as for this agent (scoped to the agent's tenant)."""
        return Principal(user_id=self.agent_id, role=Role.GUARD, tenant_id=self.tenant_id, login=self.login)

    @property
    def login(self) -> str:
        """The lookup name of the agent row (``app.login``)."""
        return f"agent:{self.agent_id}"


def secret_hash(secret: str) -> str:
    """What the database keeps of a secret."""
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


async def issue_agent_credential(
    database: Database, principal: Principal, site_id: uuid.UUID, name: str
) -> tuple[uuid.UUID, str]:
    """Create an active agent for ``site_id`` in the principal's tenant; return its id and bearer token.

    The token is shown once; only the SHA-256 of its 256-bit secret is stored.
    """
    if principal.tenant_id is None:
        raise ValueError("签发代理凭据需要企业身份")
    secret = secrets.token_hex(32)
    async with database.session(principal) as session, session.begin():
        agent = m.Agent(
            tenant_id=principal.tenant_id,
            site_id=site_id,
            name=name,
            status="active",
            credential_hash=secret_hash(secret),
            health={},
        )
        session.add(agent)
        await session.flush()
        agent_id = agent.id
    return agent_id, f"{agent_id}.{secret}"


async def authenticate_agent(database: Database, authorization: str | None) -> AgentIdentity | None:
    """The agent named by ``Authorization: Bearer <agent id>.<secret>``, or None (unknown, revoked, wrong)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    raw_id, _, secret = token.strip().partition(".")
    try:
        agent_id = uuid.UUID(raw_id)
    except ValueError:
        return None
    if not secret or len(secret) > 256:
        return None
    async with database.login_session(f"agent:{agent_id}") as session, session.begin():
        row = (
            await session.execute(
                select(m.Agent.tenant_id, m.Agent.site_id, m.Agent.status, m.Agent.credential_hash).where(
                    m.Agent.id == agent_id
                )
            )
        ).one_or_none()
    expected = row.credential_hash if row is not None and row.credential_hash else "0" * 64
    ok = hmac.compare_digest(secret_hash(secret), expected)
    if row is None or not ok or row.status != "active":
        return None
    return AgentIdentity(agent_id=agent_id, tenant_id=row.tenant_id, site_id=row.site_id)
