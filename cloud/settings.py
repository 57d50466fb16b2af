"""Typed, documented settings, one dataclass per concern, read from the environment.

Nothing is read at import time: :func:`Settings.from_env` builds them and ``create_app(settings)``
takes them explicitly (STYLE.md). With no environment set, everything points at embedded defaults
under ``.data/`` in the project folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class DatabaseSettings:
    """Connection URLs, one per database role (``postgresql+asyncpg://`` or ``postgresql://``)."""

    #: The application role (NOSUPERUSER NOBYPASSRLS): every request and job.
    app_url: str = ""
    #: The table owner: migrations only.
    owner_url: str = ""
    #: The read-only regulator role, with its own pool.
    regulator_url: str = ""
    #: Connection pool size per role.
    pool_size: int = 10
    #: Log SQL statements.
    echo: bool = False


@dataclass(frozen=True)
class AuthSettings:
    """Sessions and tokens."""

    #: Secret for signing session cookies (32+ bytes); generated per data folder when unset.
    session_secret: str = ""
    #: Lifetime of a portal session and of a bearer token, seconds.
    token_ttl_seconds: int = 12 * 3600
    #: Send cookies only over HTTPS.
    secure_cookies: bool = False


@dataclass(frozen=True)
class BlobSettings:
    """Where photos and document scans are kept (content-addressed by sha256)."""

    #: Root folder of the filesystem blob store.
    root: Path = PROJECT_ROOT / ".data" / "blobs"
    #: Largest accepted upload, bytes.
    max_bytes: int = 20 * 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """The HTTP server."""

    host: str = "127.0.0.1"
    port: int = 8000
    #: Public base URL printed for people.
    public_url: str = ""


@dataclass(frozen=True)
class Settings:
    """All settings of the cloud process."""

    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    blobs: BlobSettings = field(default_factory=BlobSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    #: Folder for local state (embedded database, generated secrets).
    data_dir: Path = PROJECT_ROOT / ".data"

    @classmethod
    def from_env(cls) -> Settings:
        """Build settings from ``DATABASE_APP_URL`` etc., falling back to the local dev state file."""
        data_dir = Path(_env("ECOGATE_DATA_DIR", str(PROJECT_ROOT / ".data")))
        state = _load_dev_state(data_dir)
        db = DatabaseSettings(
            app_url=_env("DATABASE_APP_URL", state.get("app_url", "")),
            owner_url=_env("DATABASE_OWNER_URL", state.get("owner_url", "")),
            regulator_url=_env("DATABASE_REGULATOR_URL", state.get("regulator_url", "")),
            pool_size=int(_env("DATABASE_POOL_SIZE", "10")),
            echo=_env("DATABASE_ECHO") == "1",
        )
        auth = AuthSettings(
            session_secret=_env("ECOGATE_SESSION_SECRET", state.get("session_secret", "")),
            secure_cookies=_env("ECOGATE_SECURE_COOKIES") == "1",
        )
        blobs = BlobSettings(root=Path(_env("ECOGATE_BLOB_ROOT", str(data_dir / "blobs"))))
        server = ServerSettings(
            host=_env("ECOGATE_HOST", "127.0.0.1"),
            port=int(_env("ECOGATE_PORT", "8000")),
            public_url=_env("ECOGATE_PUBLIC_URL", ""),
        )
        return cls(database=db, auth=auth, blobs=blobs, server=server, data_dir=data_dir)


DEV_STATE_FILE = "dev-database.json"


def _load_dev_state(data_dir: Path) -> dict[str, str]:
    path = data_dir / DEV_STATE_FILE
    if not path.exists():
        return {}
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if isinstance(v, str)}


def save_dev_state(data_dir: Path, values: dict[str, object]) -> None:
    """Write the local development database URLs and secrets (mode 0600)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / DEV_STATE_FILE
    path.write_text(json.dumps(values, indent=2), encoding="utf-8")
    path.chmod(0o600)
