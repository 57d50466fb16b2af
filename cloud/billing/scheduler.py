"""The dunning sweep on a schedule inside a cloud process (issue 22).

``ecogate billing sweep`` from cron does the same; one of the two is enough (several replicas sweeping at
once is harmless: each tenant's account row is locked and a stage is recorded once).
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from cloud.billing import service
from cloud.db.engine import Database

log = structlog.get_logger(__name__)

#: Seconds between sweeps (stages move by days; an hour is plenty).
EVERY_S = 3600.0


async def run(database: Database, stop: asyncio.Event, every_s: float = EVERY_S, first_after_s: float = 0.0) -> None:
    """Sweep after ``first_after_s``, then every ``every_s`` seconds until ``stop`` is set; a failed sweep is
    logged and retried."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), first_after_s)
    while not stop.is_set():
        try:
            changed = await service.sweep(database)
        except Exception:
            log.exception("billing.sweep_failed")
        else:
            if changed:
                log.info("billing.sweep", changed=len(changed))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
