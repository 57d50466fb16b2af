"""Helpers shared by the cloud command groups: local dev database state and output."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from cloud.settings import DEV_STATE_FILE, Settings, save_dev_state

DEV_DATABASE = "ecogate"


def data_dir() -> Path:
    """The local state folder (``ECOGATE_DATA_DIR`` or ``.data`` in the project)."""
    return Settings.from_env().data_dir


def fail(message: str) -> int:
    """Print a Chinese error to stderr and return exit code 1."""
    print(f"错误: {message}", file=sys.stderr)  # noqa: T201
    return 1


def ensure_dev_database(*, start_server: bool = True) -> Settings:
    """Make the development database usable and return settings pointing at it.

    With ``DATABASE_URL`` (an admin URL) set, roles and the database are created there; otherwise the
    embedded PostgreSQL under ``.data/pg`` is started (its process outlives this call; ``ecogate db stop``
    or ``make demo``'s Ctrl-C stops it).
    """
    from infra.pg import EmbeddedPostgres  # noqa: PLC0415
    from tenants.bootstrap import bootstrap_database, new_passwords  # noqa: PLC0415

    folder = data_dir()
    admin_url = os.environ.get("DATABASE_URL", "")
    if not admin_url:
        if not start_server:
            raise RuntimeError("未设置 DATABASE_URL")
        # With ECOGATE_WAL_ARCHIVE=1 the embedded server archives its WAL, so `ecogate backup restore --at`
        # can stop at any moment after the first base backup (issue 21). Off by default: a busy demo would
        # archive a 16 MB segment every few minutes until `ecogate backup run` prunes them.
        archive = None
        if os.environ.get("ECOGATE_WAL_ARCHIVE", "") == "1":
            archive = Path(os.environ.get("ECOGATE_BACKUP_DIR", "") or folder / "backups") / "wal"
        server = EmbeddedPostgres(folder / "pg", archive_dir=archive).start()
        admin_url = server.admin_url
    state_path = folder / DEV_STATE_FILE
    state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.exists() else {}
    passwords = state.get("passwords") or new_passwords()  # keep passwords so running servers stay connected
    urls = asyncio.run(bootstrap_database(admin_url, os.environ.get("ECOGATE_DATABASE", DEV_DATABASE), passwords))
    secret = Settings.from_env().auth.session_secret if state_path.exists() else ""
    if not secret:
        import secrets  # noqa: PLC0415

        secret = secrets.token_urlsafe(32)
    save_dev_state(
        folder,
        {
            "owner_url": urls.owner_url,
            "app_url": urls.app_url,
            "regulator_url": urls.regulator_url,
            "session_secret": secret,
            "passwords": passwords,
        },
    )
    return Settings.from_env()
