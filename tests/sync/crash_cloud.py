"""A test-only launcher: ``ecogate …`` in a process that dies between a hub commit and its ack (issue 17).

``python -m tests.sync.crash_cloud N cloud serve --no-migrate --port P`` runs the ordinary command
line with one fault injected: right after the N-th committed batch that stored new events, before the
ack is sent, the process exits with ``os._exit(137)`` (as under SIGKILL: no cleanup, no ack). The
production hub carries no hook for this (it used to read ``ECOGATE_HUB_CRASH_AFTER_COMMIT``); the fault
is patched in here, around the two seams the hub already has: the ledger's ``store_batch`` (called
inside the batch's transaction, so it marks a batch with new events) and ``_AgentSession._ingest``
(which returns after the commit and before the ack). Used by bench/soak_sync.py's ``kill-cloud``
scenario and through it by tests/sync/test_faults.py.
"""

from __future__ import annotations

import contextvars
import os
import sys
from typing import Any

_stored: contextvars.ContextVar[bool] = contextvars.ContextVar("crash_cloud_stored", default=False)


def install(after: int) -> None:
    """Patch the hub so the process exits right after the ``after``-th committed batch with new events."""
    from cloud.hub import handler  # noqa: PLC0415 - patched before the app is built
    from cloud.ledger import passes  # noqa: PLC0415

    committed = 0
    store_batch = passes.store_batch
    ingest = handler._AgentSession._ingest  # the seam between commit and ack

    async def marking_store_batch(*args: Any, **kwargs: Any) -> None:
        await store_batch(*args, **kwargs)
        _stored.set(True)

    async def crashing_ingest(self: Any, events: Any) -> int:
        nonlocal committed
        _stored.set(False)
        seq: int = await ingest(self, events)
        if _stored.get():  # committed (the transaction block has exited), not yet acked
            committed += 1
            if committed >= after:
                sys.stderr.write(f"crash_cloud: exiting after committed batch {committed}\n")
                sys.stderr.flush()
                os._exit(137)
        return seq

    passes.store_batch = marking_store_batch
    handler._AgentSession._ingest = crashing_ingest  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    """``N`` then the ``ecogate`` arguments."""
    install(int(argv[0]))
    import ecogate_cli  # noqa: PLC0415

    return ecogate_cli.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
