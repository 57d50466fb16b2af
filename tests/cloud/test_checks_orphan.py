"""The logic-checks process never outlives the cloud process that started it (cloud/hub/checks.py).

Seen after CI runs: checks processes whose cloud process died while they were still importing (a spawn
takes seconds) read init's pid as their parent and lingered forever. The child now compares against the
pid its parent passed; here that pid is not its parent's, as after such a death: it must leave at once.
"""

from __future__ import annotations

import logging
import multiprocessing
from typing import Any

from cloud.hub import checks


def test_the_checks_process_leaves_when_the_cloud_process_that_started_it_is_gone(settings: Any) -> None:
    context = multiprocessing.get_context("spawn")
    inbox = context.Queue()
    gone = 2**22 + 7  # above the kernel's default pid range: no such process
    child = context.Process(target=checks._child_main, args=(settings.database, 2.0, inbox, logging.WARNING, gone))
    child.start()
    child.join(90)  # importing the cloud takes a few seconds on a loaded machine; then one 1 s poll
    try:
        assert not child.is_alive(), "the checks process lingered after its cloud process was gone"
        assert child.exitcode == 0
    finally:
        if child.is_alive():
            child.kill()
        inbox.close()
