"""Agent credentials: ``<agent id>.<secret>``, stored as the SHA-256 of the secret.

An agent row and its credential come from enrollment (:func:`redeem_enrollment_code`: a one-time
code a tenant admin or installer created for a site, ``POST /api/v1/agent-enrollment``) or from
:func:`issue_agent_credential` (tests and installers' scripts). Codes are stored as SHA-256 too.
Revoking and rotating a credential (the JSON API and the portal) go through
:func:`revoke_agent_credential` and :func:`rotate_agent_credential`, their one home.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.db.engine import Database
from cloud.domain import audit
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


#: Alphabet of enrollment codes (no 0/O, 1/I/L: read over the phone and typed at the gate).
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_enrollment_code() -> str:
    """A fresh one-time code: 4 groups of 4 characters (about 79 bits), e.g. ``K7QM-2XRD-9PTA-HC4W``."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def code_hash(code: str) -> str:
    """What the database keeps of an enrollment code (case, spaces and dashes ignored)."""
    normal = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(normal.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class Enrolled:
    """The outcome of an enrollment: the new agent and its bearer token (shown once)."""

    agent_id: uuid.UUID
    tenant_id: uuid.UUID
    site_id: uuid.UUID
    name: str
    token: str


class EnrollmentError(Exception):
    """The code is unknown, used or expired (one Chinese message for all three: no oracle)."""


async def redeem_enrollment_code(database: Database, code: str, software: str = "") -> Enrolled:
    """Turn a one-time code into an active agent bound to the code's (tenant, site), in one transaction.

    Runs before any tenant is known: the session sees only the code row whose hash it names
    (``enrollment_lookup`` policy of migration 0006), then scopes itself to that row's tenant.

    Raises:
        EnrollmentError: unknown, already used or expired code.
    """
    digest = code_hash(code)
    secret = secrets.token_hex(32)
    async with database.login_session(f"enroll:{digest}") as session, session.begin():
        row = await session.scalar(
            select(m.AgentEnrollmentCode).where(m.AgentEnrollmentCode.code_hash == digest).with_for_update()
        )
        now = dt.datetime.now(dt.UTC)
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise EnrollmentError("注册码无效、已使用或已过期")
        await session.execute(select(func.set_config("app.tenant_id", str(row.tenant_id), True)))  # noqa: FBT003
        agent = m.Agent(
            tenant_id=row.tenant_id,
            site_id=row.site_id,
            name=row.agent_name,
            status="active",
            credential_hash=secret_hash(secret),
            health={"software": software[:100]} if software else {},
        )
        session.add(agent)
        await session.flush()
        row.used_at = now
        row.agent_id = agent.id
        return Enrolled(agent.id, row.tenant_id, row.site_id, row.agent_name, f"{agent.id}.{secret}")


def new_secret() -> tuple[str, str]:
    """A fresh agent secret and its stored hash."""
    secret = secrets.token_hex(32)
    return secret, secret_hash(secret)


class CredentialStateError(Exception):
    """The credential cannot change in the agent's state (the message is the Chinese detail shown)."""


async def revoke_agent_credential(session: AsyncSession, principal: Principal, agent: m.Agent, reason: str) -> None:
    """Revoke ``agent``'s credential inside the caller's transaction, audited (``agent.revoked``).

    The agent is refused at its next handshake; a live connection closes once the transaction commits.

    Raises:
        CredentialStateError: the credential is already revoked.
    """
    from cloud.hub import commands  # noqa: PLC0415 - commands imports this module (AgentIdentity)

    if agent.status == "revoked":
        raise CredentialStateError("该代理的凭据已经吊销")
    agent.status = "revoked"
    agent.credential_hash = None
    agent.revoked_at = dt.datetime.now(dt.UTC)
    audit.record(session, principal, "agent.revoked", "agent", agent.id, {"reason": reason})
    await commands.disconnect_agents(session, agent.tenant_id, [agent.id], "代理凭据已吊销")


async def rotate_agent_credential(session: AsyncSession, principal: Principal, agent: m.Agent) -> str:
    """Give ``agent`` a new credential inside the caller's transaction, audited (``agent.rotated``).

    The old credential stops working at once and a live connection using it closes once the
    transaction commits. Returns the new bearer token (shown once; only its hash is stored).

    Raises:
        CredentialStateError: the agent is not active (revoked agents enroll again).
    """
    from cloud.hub import commands  # noqa: PLC0415 - commands imports this module (AgentIdentity)

    if agent.status != "active":
        raise CredentialStateError("已吊销的代理不能更换凭据，请重新注册")
    secret, digest = new_secret()
    agent.credential_hash = digest
    agent.credential_rotated_at = dt.datetime.now(dt.UTC)
    audit.record(session, principal, "agent.rotated", "agent", agent.id)
    await commands.disconnect_agents(session, agent.tenant_id, [agent.id], "代理凭据已更换")
    return f"{agent.id}.{secret}"


async def create_enrollment_code(
    session: AsyncSession, principal: Principal, site_id: uuid.UUID, name: str, ttl: dt.timedelta
) -> tuple[m.AgentEnrollmentCode, str]:
    """Store a new one-time code for ``site_id`` (inside the caller's transaction); return the row and the code.

    Raises:
        LookupError: the site is not one of the principal's tenant.
    """
    if principal.tenant_id is None:
        raise ValueError("生成注册码需要企业身份")
    if await session.scalar(select(m.Site.id).where(m.Site.id == site_id)) is None:
        raise LookupError("厂区不存在")
    code = new_enrollment_code()
    row = m.AgentEnrollmentCode(
        tenant_id=principal.tenant_id,
        site_id=site_id,
        agent_name=name,
        code_hash=code_hash(code),
        expires_at=dt.datetime.now(dt.UTC) + ttl,
        created_by=principal.user_id,
    )
    session.add(row)
    await session.flush()
    return row, code
