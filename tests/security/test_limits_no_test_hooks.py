"""Issue 17 finding 7: no test hook in production code (fault injection lives in tests/sync/crash_cloud.py).

``ECOGATE_HUB_CRASH_AFTER_COMMIT`` made the hub ``os._exit(137)``, and a non-numeric value stopped the
server from starting. Production packages must neither read it nor exit the process on their own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("cloud", "frontend_api", "tenants", "agent_protocol", "hj1321")


def test_no_crash_hook_or_process_exit_in_production_packages() -> None:
    offenders = []
    for package in PRODUCTION:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if re.search(r"CRASH_AFTER_COMMIT|os\._exit\(", text):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_old_variable_no_longer_matters() -> None:
    env = {**os.environ, "ECOGATE_HUB_CRASH_AFTER_COMMIT": "not-a-number"}
    done = subprocess.run(
        [sys.executable, "-c", "import cloud.hub.handler"], env=env, cwd=ROOT, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
