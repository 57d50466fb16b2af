"""Run the Alembic migrations that live inside this package, as the owner role."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(owner_url: str) -> Config:
    """An Alembic config pointing at our migrations and at ``owner_url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_table", "ecogate_schema_version")
    config.attributes["owner_url"] = owner_url
    return config


def upgrade(owner_url: str, revision: str = "head") -> None:
    """Upgrade the schema to ``revision``."""
    command.upgrade(alembic_config(owner_url), revision)


def downgrade(owner_url: str, revision: str = "base") -> None:
    """Downgrade the schema to ``revision``."""
    command.downgrade(alembic_config(owner_url), revision)


async def upgrade_async(owner_url: str, revision: str = "head") -> None:
    """:func:`upgrade` from async code (Alembic's async env runs its own event loop)."""
    await asyncio.to_thread(upgrade, owner_url, revision)
