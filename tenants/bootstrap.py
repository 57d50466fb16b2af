"""Create the database roles and a database, as an administrator, idempotently.

Run by ``ecogate db bootstrap``, ``make demo`` and the test fixtures against the embedded server or,
with ``DATABASE_URL`` set, against an external server (ARCHITECTURE.md "Tenant isolation").
Passwords are (re)set on every run and returned in the URLs.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from tenants.roles import APP_ROLE, OWNER_ROLE, REGULATOR_ROLE


@dataclass(frozen=True)
class DatabaseUrls:
    """Connection URLs (asyncpg dialect) for each role of one database."""

    owner_url: str
    app_url: str
    regulator_url: str


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def role_url(admin_url: str, role: str, password: str, database: str) -> str:
    """Derive a URL for ``role`` on ``database`` from the admin URL's host and port."""
    parts = urlsplit(_plain(admin_url))
    host = parts.hostname or "127.0.0.1"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{quote(role)}:{quote(password, safe='')}@{host}{port}"
    return urlunsplit(("postgresql+asyncpg", netloc, f"/{database}", parts.query, ""))


def new_passwords() -> dict[str, str]:
    """Fresh random passwords for the three roles."""
    return {role: secrets.token_urlsafe(18) for role in (OWNER_ROLE, APP_ROLE, REGULATOR_ROLE)}


async def ensure_roles(admin_url: str, passwords: dict[str, str]) -> None:
    """Create the three roles, or reset their attributes and passwords, as an administrator."""
    conn = await asyncpg.connect(_plain(admin_url))
    try:
        # Serialise concurrent bootstraps (test workers sharing one external server).
        await conn.execute("SELECT pg_advisory_lock(4201)")
        for role, password in passwords.items():
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            verb = "ALTER" if exists else "CREATE"
            # Role names are constants; the password is a generated URL-safe token.
            await conn.execute(
                f"{verb} ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '{password}'"
            )
    finally:
        await conn.close()


async def create_database(
    admin_url: str, database: str, passwords: dict[str, str], *, recreate: bool = False
) -> DatabaseUrls:
    """Ensure ``database`` exists, owned by the owner role, and return the role URLs for it."""
    conn = await asyncpg.connect(_plain(admin_url))
    try:
        if recreate:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f"CREATE DATABASE \"{database}\" OWNER {OWNER_ROLE} ENCODING 'UTF8' TEMPLATE template0")
        await conn.execute(f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC')
        await conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {APP_ROLE}, {REGULATOR_ROLE}')
    finally:
        await conn.close()
    urls = DatabaseUrls(
        owner_url=role_url(admin_url, OWNER_ROLE, passwords[OWNER_ROLE], database),
        app_url=role_url(admin_url, APP_ROLE, passwords[APP_ROLE], database),
        regulator_url=role_url(admin_url, REGULATOR_ROLE, passwords[REGULATOR_ROLE], database),
    )
    db_conn = await asyncpg.connect(_plain(urls.owner_url))
    try:
        await db_conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        await db_conn.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}, {REGULATOR_ROLE}")
    finally:
        await db_conn.close()
    return urls


async def bootstrap_database(
    admin_url: str, database: str, passwords: dict[str, str] | None = None, *, recreate: bool = False
) -> DatabaseUrls:
    """Ensure the roles and ``database`` exist; return the role URLs (new passwords unless given)."""
    passwords = passwords or new_passwords()
    await ensure_roles(admin_url, passwords)
    return await create_database(admin_url, database, passwords, recreate=recreate)


async def drop_database(admin_url: str, database: str) -> None:
    """Drop ``database`` (tests clean up their per-worker databases)."""
    conn = await asyncpg.connect(_plain(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()
