"""``ecogate backup run|list|restore``: base backups, WAL archive and blob copies; restore drills (issue 21).

The development/demo server archives its WAL into ``<backup root>/wal`` when started with
``ECOGATE_WAL_ARCHIVE=1`` (cloud/cli/_common.py); with ``DATABASE_URL`` an external server must be
configured to archive there itself (docs/operations.md). ``restore`` brings a backup up in a fresh
embedded PostgreSQL at a point in time and, with ``--verify``, checks it: rows per table, every
tenant's hash chains, and that the blobs the restored passes name are in the blob copy with their digest.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cloud.cli._common import DEV_DATABASE, data_dir, fail

if TYPE_CHECKING:
    from cloud.settings import BlobSettings

_TABLES_WITH_ROWS = ("tenant", "vehicle", "vehicle_version", "pass_event", "weighing", "cloud_chain", "audit_log")


def backup_root() -> Path:
    """Where backups go: ``ECOGATE_BACKUP_DIR`` or ``.data/backups``."""
    return Path(os.environ.get("ECOGATE_BACKUP_DIR", "") or data_dir() / "backups")


def _print(text: str) -> None:
    print(text)  # noqa: T201


def _source_admin_url() -> tuple[str, Path | None]:
    """The administrator URL of the server to back up, and the embedded server's state file if it is ours."""
    url = os.environ.get("DATABASE_URL", "")
    if url:
        return url, None
    state = data_dir() / "pg" / "ecogate-server.json"
    if not state.exists():
        raise FileNotFoundError("未找到内置数据库（请先运行 make demo 或 ecogate db serve，或设置 DATABASE_URL）")
    saved = json.loads(state.read_text(encoding="utf-8"))
    return f"postgresql://postgres:{saved['password']}@127.0.0.1:{saved['port']}/postgres", state


async def verify_restored(admin_url: str, database: str, blob_copy: Path | None, sample: int = 50) -> dict[str, Any]:
    """Rows per table, chain verification of every tenant, and a sample of blobs, on a restored server."""
    import asyncpg  # noqa: PLC0415
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine  # noqa: PLC0415

    from cloud.compliance import chain  # noqa: PLC0415

    base = admin_url.replace("+asyncpg", "").rsplit("/", 1)[0]
    conn = await asyncpg.connect(f"{base}/{database}")
    try:
        counts = {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in _TABLES_WITH_ROWS}  # noqa: S608
        tenants = [r["id"] for r in await conn.fetch("SELECT id FROM tenant ORDER BY id")]
        digests = [
            r["sha"]
            for r in await conn.fetch(
                "SELECT sha FROM (SELECT scene_sha256 AS sha FROM pass_event UNION SELECT plate_sha256 FROM pass_event)"
                " s WHERE sha IS NOT NULL ORDER BY random() LIMIT $1",
                sample,
            )
        ]
    finally:
        await conn.close()
    engine = create_async_engine(f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{database}")
    problems: dict[str, list[str]] = {}
    try:
        async with AsyncSession(engine) as session, session.begin():
            for tenant_id in tenants:
                report = await session.run_sync(chain.verify, tenant_id)
                if report.problems:
                    problems[str(tenant_id)] = [str(p) for p in report.problems]
    finally:
        await engine.dispose()
    missing = []
    if blob_copy is not None:
        from cloud.blobs import BlobStore  # noqa: PLC0415

        store = BlobStore(blob_copy)
        missing = [d for d in digests if not store.has(d) or hashlib.sha256(store.get(d)).hexdigest() != d]
    return {
        "rows": counts,
        "tenants": len(tenants),
        "chain_problems": problems,
        "blobs_checked": len(digests) if blob_copy is not None else 0,
        "blobs_missing": missing,
        "ok": not problems and not missing,
    }


def copy_blobs(settings: BlobSettings, target: Path) -> tuple[int, int, str]:
    """Copy the configured blob store's new objects into ``target``; (copied, present, what was copied).

    The filesystem store is copied file by file (``infra.backup.copy_blobs``, both tiers); any other
    store (an S3-compatible bucket) through the blob interface: its listing, then ``get`` of each object
    the copy lacks (``cloud.blobs.copy_missing``, incremental by name, every object re-hashed).
    """
    from cloud.blobs import FileBlobStore, S3BlobStore, copy_missing, open_store  # noqa: PLC0415
    from infra import backup  # noqa: PLC0415

    store = open_store(settings)
    if isinstance(store, FileBlobStore):
        return (*backup.copy_blobs(store.root, target), str(store.root))
    where = f"s3://{store.location.bucket}/{store.location.prefix}" if isinstance(store, S3BlobStore) else repr(store)
    return (*copy_missing(store, FileBlobStore(target)), where)


def _run(root: Path, keep: int) -> int:
    from cloud.settings import Settings  # noqa: PLC0415
    from infra import backup  # noqa: PLC0415

    admin_url, state = _source_admin_url()
    _print(f"开始基础备份 → {root / 'base'}")
    taken = backup.run_base_backup(admin_url, root, server_state=state)
    _print(f"基础备份完成：{taken.id}（{taken.size_bytes / 2**20:.1f} MB，起始 WAL {taken.start_wal}，已校验）")
    copied, present, where = copy_blobs(Settings.from_env().blobs, root / "blobs")
    _print(f"照片与文件副本（{where}）：新复制 {copied} 个，已有 {present} 个（均按 SHA-256 校验）")
    removed = backup.prune(root, keep)
    if removed:
        _print(f"按保留数 {keep} 删除旧基础备份：{', '.join(removed)}")
    if not backup.wal_segments(root):
        how = "内置数据库请以 ECOGATE_WAL_ARCHIVE=1 启动，外部数据库须配置 archive_command"
        _print(f"提示：WAL 归档为空，只能恢复到基础备份时刻（{how}）")
    return 0


def _list(root: Path) -> int:
    from infra import backup  # noqa: PLC0415

    backups = backup.list_backups(root)
    if not backups:
        _print(f"{root} 下没有基础备份")
        return 0
    _print(f"{'编号':<26}{'完成时间（北京时间）':<24}{'大小':>10}  起始 WAL")
    shanghai = dt.timezone(dt.timedelta(hours=8))
    for item in backups:
        finished = item.finished_at.astimezone(shanghai).strftime("%Y-%m-%d %H:%M:%S")
        _print(f"{item.id:<26}{finished:<24}{item.size_bytes / 2**20:>8.1f}MB  {item.start_wal}")
    segments = backup.wal_segments(root)
    span = f"{segments[0]} … {segments[-1]}" if segments else "无"
    _print(f"WAL 归档：{len(segments)} 段（{span}）")
    return 0


def _restore(root: Path, args: argparse.Namespace) -> int:
    from infra import backup  # noqa: PLC0415

    at = dt.datetime.fromisoformat(args.at) if args.at else None
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))  # times people type are 北京时间
    _print(f"恢复到 {args.to}（目标时间：{at.isoformat() if at else 'WAL 归档末尾'}）…")
    # The restored cluster keeps the source's superuser password: the embedded server's is in the backup,
    # an external server's is the one in DATABASE_URL.
    password = urlsplit(os.environ.get("DATABASE_URL", "")).password or ""
    server = backup.restore(root, Path(args.to), target_time=at, backup_id=args.backup, password=password)
    _print(f"恢复完成，数据库已启动：127.0.0.1:{server.port}")
    if not args.verify:
        _print(f"管理连接：{server.admin_url}（ecogate db stop 不会停止它；用 pg_ctl -D {args.to}/pgdata stop）")
        return 0
    try:
        report = asyncio.run(verify_restored(server.admin_url, args.database, root / "blobs"))
    finally:
        server.stop()
    _print(json.dumps(report, ensure_ascii=False, indent=2))
    _print("校验通过：行数、各企业哈希链与照片抽样一致" if report["ok"] else "校验未通过：见上方问题")
    return 0 if report["ok"] else 2


def main(argv: list[str]) -> int:
    """Run ``ecogate backup …``."""
    parser = argparse.ArgumentParser(prog="ecogate backup", description="备份与恢复：基础备份、WAL 归档、照片副本")
    parser.add_argument("--root", type=Path, default=None, help="备份目录（默认 ECOGATE_BACKUP_DIR 或 .data/backups）")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="做一次基础备份并复制新照片/文件")
    run.add_argument("--keep", type=int, default=7, help="保留的基础备份个数（默认 7）")
    sub.add_parser("list", help="列出基础备份与 WAL 归档")
    restore = sub.add_parser("restore", help="恢复到一个新的内置数据库（可指定时间点）")
    restore.add_argument("--to", required=True, help="新数据目录（必须不存在或为空）")
    restore.add_argument("--at", help="恢复目标时间，如 2026-12-07T14:00:00+08:00（无时区按北京时间）")
    restore.add_argument("--backup", help="指定基础备份编号（默认：目标时间前最新的一个）")
    restore.add_argument("--verify", action="store_true", help="恢复后校验行数、哈希链与照片，然后停止")
    restore.add_argument("--database", default=os.environ.get("ECOGATE_DATABASE", DEV_DATABASE), help="要校验的库名")
    args = parser.parse_args(argv)
    root = args.root or backup_root()
    from cloud.blobs import BlobCopyError  # noqa: PLC0415
    from infra.backup import BackupError  # noqa: PLC0415

    try:
        if args.command == "run":
            return _run(root, args.keep)
        if args.command == "list":
            return _list(root)
        return _restore(root, args)
    except (BackupError, BlobCopyError, FileNotFoundError, ValueError) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print("已中断", file=sys.stderr)  # noqa: T201
        return 130


__all__ = ["backup_root", "copy_blobs", "main", "verify_restored"]
