"""Numbered schema migrations of the outbox database, tracked with ``PRAGMA user_version``.

Never edit an applied migration; append a new one. Before migrating a non-empty database the
outbox takes a copy with SQLite's online backup (``<db>.bak-v<old>``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]


_001_INITIAL: Final = """
        CREATE TABLE event (
            seq INTEGER PRIMARY KEY,             -- chain sequence number, assigned at append
            event_id TEXT NOT NULL UNIQUE,       -- UUIDv7 made on the agent
            read_id TEXT UNIQUE,                 -- id of the camera read that caused it (NULL: manual)
            lane_id TEXT NOT NULL,
            occurred_at TEXT NOT NULL,           -- canonical UTC time
            decision TEXT NOT NULL,
            hash TEXT NOT NULL,
            body BLOB NOT NULL,                  -- the sealed PassEvent as JSON; never updated
            status INTEGER NOT NULL DEFAULT 0,   -- 0 pending, 1 sent, 2 acked
            created_at REAL NOT NULL,            -- unix time the row was committed
            sent_at REAL,
            acked_at REAL,
            actuated_at REAL                     -- barrier/LED commands sent after the commit
        );
        CREATE INDEX ix_event_status_seq ON event (status, seq);
        CREATE TABLE blob (
            sha256 TEXT PRIMARY KEY,
            kind TEXT NOT NULL,                  -- photo / clip
            mime TEXT NOT NULL,
            size INTEGER NOT NULL,               -- original size
            stored_size INTEGER NOT NULL,        -- bytes on disk now (0 once dropped)
            state TEXT NOT NULL DEFAULT 'present',  -- present / downsampled / dropped
            first_seq INTEGER NOT NULL,          -- the oldest event that references it
            created_at REAL NOT NULL
        );
        CREATE INDEX ix_blob_state_seq ON blob (state, first_seq);
        CREATE TABLE event_blob (
            seq INTEGER NOT NULL REFERENCES event (seq) ON DELETE CASCADE,
            sha256 TEXT NOT NULL REFERENCES blob (sha256),
            PRIMARY KEY (seq, sha256)
        );
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE alarm (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            code TEXT NOT NULL,
            message TEXT NOT NULL
        );
"""

_002_LATE_CLIPS: Final = """
        CREATE TABLE attachment (
            id TEXT PRIMARY KEY,                 -- UUIDv7 made on the agent (the cloud dedupes on it)
            event_id TEXT NOT NULL REFERENCES event (event_id) ON DELETE CASCADE,
            kind TEXT NOT NULL DEFAULT 'clip',   -- late clip cut after the pass (docs/adr/0020)
            sha256 TEXT,                         -- NULL while the clip is still being cut
            size INTEGER,
            clip_start TEXT,                     -- canonical UTC time of the first frame
            clip_end TEXT,                       -- canonical UTC time of the last frame
            mime TEXT,
            status INTEGER NOT NULL,             -- 0 pending, 1 sent, 2 acked, 3 cutting, 4 lost, 5 refused
            note TEXT,                           -- why it was lost or refused
            created_at REAL NOT NULL,
            sent_at REAL,
            acked_at REAL
        );
        CREATE INDEX ix_attachment_status ON attachment (status, created_at);
        CREATE INDEX ix_attachment_event ON attachment (event_id);
"""

_003_LATE_WEIGHINGS: Final = """
        CREATE TABLE weighing_attachment (
            id TEXT PRIMARY KEY,                 -- UUIDv7 made on the agent (the cloud dedupes on it)
            event_id TEXT REFERENCES event (event_id) ON DELETE CASCADE,  -- NULL: a plateau no pass claimed
            outcome TEXT NOT NULL,               -- waiting / weighed / missing (issue 15)
            body BLOB,                           -- the WeighingRecord as JSON once weighed
            status INTEGER NOT NULL,             -- 0 pending, 1 sent, 2 acked, 3 waiting, 5 refused
            note TEXT,                           -- why it is missing or refused
            created_at REAL NOT NULL,
            sent_at REAL,
            acked_at REAL
        );
        CREATE INDEX ix_weighing_attachment_status ON weighing_attachment (status, created_at);
        CREATE INDEX ix_weighing_attachment_event ON weighing_attachment (event_id);
"""

#: Migration n (1-based, SQL script) brings the schema from version n-1 to n.
MIGRATIONS: Final[tuple[str, ...]] = (_001_INITIAL, _002_LATE_CLIPS, _003_LATE_WEIGHINGS)
SCHEMA_VERSION: Final = len(MIGRATIONS)


def migrate(db: sqlite3.Connection, path: Path | None) -> int:
    """Bring ``db`` to :data:`SCHEMA_VERSION`; return the version found before.

    Raises:
        RuntimeError: when the database is newer than this code (a downgrade is refused).
    """
    found = int(db.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise RuntimeError(f"发件箱数据库版本 {found} 高于本程序支持的 {SCHEMA_VERSION}，拒绝降级打开")
    if found == SCHEMA_VERSION:
        return found
    if found > 0 and path is not None:
        backup = sqlite3.connect(path.with_name(f"{path.name}.bak-v{found}"))
        try:
            db.backup(backup)
        finally:
            backup.close()
    for version in range(found, SCHEMA_VERSION):
        # One script, one transaction: the schema change and the version bump commit together.
        script = f"BEGIN IMMEDIATE;\n{MIGRATIONS[version]}\nPRAGMA user_version = {version + 1};\nCOMMIT;"
        try:
            db.executescript(script)
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    return found
