"""A real uplink worker process for the lease tests: ``python -m tests.uplink.worker_process APP OWNER REG LEASE_S``.

Runs :class:`cloud.uplink.worker.UplinkWorker` until killed; the test SIGKILLs it while its sends hang.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from cloud.blobs import BlobStore
from cloud.db.engine import Database
from cloud.settings import DatabaseSettings
from cloud.uplink.worker import UplinkWorker


async def _main(app_url: str, owner_url: str, regulator_url: str, lease_s: float) -> None:
    database = Database.from_settings(
        DatabaseSettings(app_url=app_url, owner_url=owner_url, regulator_url=regulator_url)
    )
    blobs = BlobStore(Path(tempfile.mkdtemp(prefix="ecogate-uplink-proc-")))
    worker = UplinkWorker(database, blobs, batch=50, concurrency=8, idle_s=0.1, lease_s=lease_s)
    await worker.run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
