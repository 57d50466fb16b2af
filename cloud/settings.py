"""Typed, documented settings, one dataclass per concern, read from the environment.

Nothing is read at import time: :func:`Settings.from_env` builds them and ``create_app(settings)``
takes them explicitly (STYLE.md). With no environment set, everything points at embedded defaults
under ``.data/`` in the project folder.

Two modes (issue 17, docs/security.md "Secrets"): ``production`` (the default of the dataclass and of
any process given ``DATABASE_APP_URL``) refuses to start without a strong session secret and a valid
uplink master key, and sends cookies ``Secure`` only; ``development`` (``ECOGATE_ENV=development``, or
the embedded development database with no ``DATABASE_APP_URL``) generates or derives development
secrets with a warning and allows plain-http cookies on localhost. Tests and the demo run in
development mode explicitly.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PRODUCTION: Final = "production"
DEVELOPMENT: Final = "development"
#: A session secret needs this many characters and this much Shannon entropy (bits per character × length).
MIN_SECRET_CHARS: Final = 32
MIN_SECRET_BITS: Final = 128


class InsecureSettingsError(RuntimeError):
    """Production mode refuses to start with a missing or weak secret (the message says which and why)."""


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
    #: A streaming replica (``postgresql://host:port/db``; docs/adr/0036): its address replaces the primary's in
    #: the regulator URL, and the regulator's reads go there while it is at most ``replica_max_lag_s`` behind.
    replica_url: str = ""
    #: Staleness bound of replica reads, seconds; a replica further behind (or unreachable) is not used.
    replica_max_lag_s: float = 5.0
    #: Log SQL statements.
    echo: bool = False


@dataclass(frozen=True)
class AuthSettings:
    """Sessions and tokens."""

    #: Secret for signing session cookies (32+ bytes); generated per data folder when unset.
    session_secret: str = ""
    #: Lifetime of a portal session and of a bearer token, seconds.
    token_ttl_seconds: int = 12 * 3600
    #: Send cookies only over HTTPS (``Secure``); off only in development mode on plain-http localhost.
    secure_cookies: bool = True
    #: Take the client address from the last ``X-Forwarded-For`` hop (behind the load balancer only).
    trust_forwarded: bool = False
    #: Wrong passwords per login name within a minute before it is locked (the next attempt answers 429).
    account_attempts: int = 10
    #: Wrong passwords per client address within a minute before the address is locked.
    address_attempts: int = 100


@dataclass(frozen=True)
class BlobSettings:
    """Where photos and document scans are kept (content-addressed by sha256)."""

    #: Root folder of the filesystem blob store.
    root: Path = PROJECT_ROOT / ".data" / "blobs"
    #: ``ECOGATE_BLOB_URL``: empty for the filesystem store at ``root``; ``s3://bucket/prefix?endpoint=…`` for an
    #: S3-compatible bucket (Alibaba Cloud OSS, AWS S3; ``cloud.blobs.parse_url`` documents the options).
    url: str = ""
    #: Months media stay in the hot class before retention moves them to the cold one (``ECOGATE_BLOB_HOT_MONTHS``).
    hot_months: int = 3
    #: Largest accepted upload, bytes.
    max_bytes: int = 20 * 1024 * 1024


@dataclass(frozen=True)
class JobSettings:
    """Background jobs (exports, imports) claimed from PostgreSQL by any replica (``cloud.jobs``, ADR 0031)."""

    #: Job runners in this process (``ECOGATE_JOB_RUNNERS``; 0: this replica takes no jobs).
    runners: int = 1
    #: A claim's lease, seconds (``ECOGATE_JOB_LEASE_S``): renewed every third of it while the job runs; a
    #: job whose lease ran out (its replica died) is taken over by another replica.
    lease_s: float = 30.0
    #: Seconds between polls for due jobs when idle (``ECOGATE_JOB_POLL_S``).
    poll_s: float = 1.0
    #: Pause after each chunk of rows an export reads (``ECOGATE_JOB_CHUNK_PAUSE_S``; 0 in production): yields
    #: the database to interactive work on a busy replica; tests use it to stop a replica mid-job.
    chunk_pause_s: float = 0.0
    #: Claims of one job before it is given up as failed (a job that kills its replica every time).
    max_attempts: int = 3
    #: Rows an export job reads per query (``ECOGATE_JOB_CHUNK_ROWS``): memory and progress steps.
    chunk_rows: int = 2000
    #: Days a finished job's file is kept (``ECOGATE_JOB_FILE_KEEP_DAYS``): the retention run then deletes it
    #: and the job shows 已过期 (cloud.retention.expire_job_files).
    file_keep_days: int = 7


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
    jobs: JobSettings = field(default_factory=JobSettings)
    #: Folder for local state (embedded database, generated secrets).
    data_dir: Path = PROJECT_ROOT / ".data"
    #: ``production`` or ``development`` (see the module docstring).
    environment: str = PRODUCTION

    @property
    def is_production(self) -> bool:
        """Whether secrets must be real (anything but an explicit development mode)."""
        return self.environment != DEVELOPMENT

    def check_secrets(self) -> None:
        """Refuse weak or missing secrets in production mode.

        Raises:
            InsecureSettingsError: the session secret is missing or weak, the uplink master key is missing
                or malformed, or cookies would be sent without ``Secure``.
        """
        key = os.environ.get("ECOGATE_UPLINK_KEY", "")
        if not self.is_production:
            if key and uplink_key_problem(key):  # a key that is set must work, in any mode
                raise InsecureSettingsError(f"ECOGATE_UPLINK_KEY {uplink_key_problem(key)}")
            return
        problems = []
        weak = secret_weakness(self.auth.session_secret)
        if weak:
            problems.append(f"ECOGATE_SESSION_SECRET {weak}")
        key_problem = uplink_key_problem(key)
        if key_problem:
            problems.append(f"ECOGATE_UPLINK_KEY {key_problem}")
        if not self.auth.secure_cookies:
            problems.append("ECOGATE_SECURE_COOKIES=0 只允许在开发模式（ECOGATE_ENV=development）下使用")
        if problems:
            raise InsecureSettingsError("生产模式拒绝启动：" + "；".join(problems))

    @classmethod
    def from_env(cls) -> Settings:
        """Build settings from ``DATABASE_APP_URL`` etc., falling back to the local dev state file."""
        data_dir = Path(_env("ECOGATE_DATA_DIR", str(PROJECT_ROOT / ".data")))
        state = _load_dev_state(data_dir)
        # The embedded development database (URLs from the state file, none in the environment) is
        # development by nature; a process given DATABASE_APP_URL is production unless told otherwise.
        environment = environment_from_env()
        db = DatabaseSettings(
            app_url=_env("DATABASE_APP_URL", state.get("app_url", "")),
            owner_url=_env("DATABASE_OWNER_URL", state.get("owner_url", "")),
            regulator_url=_env("DATABASE_REGULATOR_URL", state.get("regulator_url", "")),
            pool_size=int(_env("DATABASE_POOL_SIZE", "10")),
            replica_url=_env("DATABASE_REPLICA_URL"),
            replica_max_lag_s=float(_env("DATABASE_REPLICA_MAX_LAG_S", "5")),
            echo=_env("DATABASE_ECHO") == "1",
        )
        auth = AuthSettings(
            session_secret=_env("ECOGATE_SESSION_SECRET", state.get("session_secret", "")),
            secure_cookies=_env("ECOGATE_SECURE_COOKIES", "1" if environment == PRODUCTION else "0") == "1",
            trust_forwarded=_env("ECOGATE_TRUST_FORWARDED") == "1",
        )
        blobs = BlobSettings(
            root=Path(_env("ECOGATE_BLOB_ROOT", str(data_dir / "blobs"))),
            url=_env("ECOGATE_BLOB_URL"),
            hot_months=int(_env("ECOGATE_BLOB_HOT_MONTHS", "3")),
        )
        jobs = JobSettings(
            runners=int(_env("ECOGATE_JOB_RUNNERS", "1")),
            lease_s=float(_env("ECOGATE_JOB_LEASE_S", "30")),
            poll_s=float(_env("ECOGATE_JOB_POLL_S", "1")),
            chunk_pause_s=float(_env("ECOGATE_JOB_CHUNK_PAUSE_S", "0")),
            chunk_rows=max(1, int(_env("ECOGATE_JOB_CHUNK_ROWS", "2000"))),
            file_keep_days=max(1, int(_env("ECOGATE_JOB_FILE_KEEP_DAYS", "7"))),
        )
        server = ServerSettings(
            host=_env("ECOGATE_HOST", "127.0.0.1"),
            port=int(_env("ECOGATE_PORT", "8000")),
            public_url=_env("ECOGATE_PUBLIC_URL", ""),
        )
        return cls(
            database=db, auth=auth, blobs=blobs, server=server, jobs=jobs, data_dir=data_dir, environment=environment
        )


def environment_from_env() -> str:
    """``ECOGATE_ENV``; unset: development on the embedded development database, production otherwise.

    The embedded development database (URLs from the state file, none in the environment) is development
    by nature; a process given ``DATABASE_APP_URL`` is production unless told otherwise.

    Raises:
        InsecureSettingsError: for a value that is neither mode.
    """
    environment = _env("ECOGATE_ENV") or (PRODUCTION if _env("DATABASE_APP_URL") else DEVELOPMENT)
    if environment not in {PRODUCTION, DEVELOPMENT}:
        raise InsecureSettingsError(f"ECOGATE_ENV 只能是 {PRODUCTION} 或 {DEVELOPMENT}，而不是 {environment!r}")
    return environment


def secret_weakness(secret: str) -> str:
    """Why a session secret is too weak ('' when it is fine): length and Shannon entropy of its characters."""
    if not secret:
        return "未设置"
    if len(secret) < MIN_SECRET_CHARS:
        return f"过短（{len(secret)} 个字符，至少 {MIN_SECRET_CHARS} 个）"
    counts = Counter(secret)
    per_char = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    if per_char * len(secret) < MIN_SECRET_BITS or len(counts) < MIN_SECRET_CHARS // 4:
        return "熵过低（请用 `python -c 'import secrets; print(secrets.token_urlsafe(48))'` 生成）"
    return ""


def uplink_key_problem(raw: str) -> str:
    """Why an uplink master key is unusable ('' when it is 32 bytes of URL-safe base64)."""
    if not raw:
        return "未设置（监管平台凭据的主密钥）"
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        return "不是 URL 安全的 base64"
    if len(key) != 32:
        return f"须为 32 字节（实际 {len(key)} 字节）"
    if len(set(key)) < 16:
        return "熵过低（请用随机的 32 字节生成，见 docs/security.md）"
    return ""


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
