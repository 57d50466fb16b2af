"""``make audit``: known vulnerabilities of the locked packages (pip-audit over requirements.lock, issue 17).

The lock is audited as written (``--disable-pip --no-deps``: exact pins, nothing resolved or installed)
against PyPI's vulnerability data. A found vulnerability fails (exit 1) with pip-audit's table.
The vulnerability service being unreachable (an offline CI runner, a proxy refusing) is not a reason to
fail a build: the audit is skipped with a loud message on stderr and exit 0. A vulnerability that
must be accepted for a while is listed with its reason in ``infra/audit-ignore.txt`` (one id per line,
``#`` comments), never silently.

    python infra/audit.py [requirements.lock]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: The per-release endpoint pip-audit reads (the project-level one can exist without it, e.g. on a mirror).
PROBE = "https://pypi.org/pypi/pip/24.3.1/json"
IGNORE_FILE = ROOT / "infra" / "audit-ignore.txt"
_NETWORK_MARKERS = ("ConnectionError", "Max retries exceeded", "NameResolutionError", "ProxyError", "timed out")


def _loud(message: str) -> None:
    bar = "!" * 78
    sys.stderr.write(
        f"\n{bar}\n!! make audit SKIPPED: {message}\n!! The lock was NOT checked for known vulnerabilities.\n{bar}\n\n"
    )


def _reachable() -> str | None:
    """None when PyPI answers; the reason otherwise."""
    try:
        with urllib.request.urlopen(PROBE, timeout=10) as response:
            body = json.loads(response.read())
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        return f"PyPI's JSON API is unreachable ({exc})"
    except ValueError:
        return "PyPI's JSON API answered something other than JSON (a mirror or proxy without it)"
    if not isinstance(body, dict) or "info" not in body:
        return "PyPI's JSON API answered without package data"
    return None


def _ignored() -> list[str]:
    if not IGNORE_FILE.exists():
        return []
    ids = []
    for line in IGNORE_FILE.read_text(encoding="utf-8").splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            ids.append(entry)
    return ids


def main(argv: list[str]) -> int:
    """Audit the lock; 0 clean or skipped offline, 1 vulnerable."""
    lock = Path(argv[0]) if argv else ROOT / "requirements.lock"
    reason = _reachable()
    if reason is not None:
        _loud(reason)
        return 0
    with tempfile.TemporaryDirectory(prefix="ecogate-audit-") as tmp:
        report = Path(tmp) / "audit.json"
        command = [
            sys.executable,
            "-m",
            "pip_audit",
            "--requirement",
            str(lock),
            "--require-hashes",
            "--disable-pip",
            "--no-deps",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--output",
            str(report),
            "--cache-dir",
            str(ROOT / ".venv" / ".pip-audit-cache"),
        ]
        for vuln in _ignored():
            command += ["--ignore-vuln", vuln]
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=os.environ.copy())
        if not report.exists():
            output = done.stderr + done.stdout
            if any(marker in output for marker in _NETWORK_MARKERS):
                _loud("the vulnerability service failed mid-run: " + output.strip().splitlines()[-1])
                return 0
            sys.stderr.write(output)
            return done.returncode or 1
        found = json.loads(report.read_text(encoding="utf-8"))
    return verdict(found)


def verdict(found: dict[str, Any]) -> int:
    """Exit status for pip-audit's JSON report: 1 when a locked package has a known vulnerability."""
    dependencies = found.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    if dependencies and len(skipped) * 2 > len(dependencies):
        _loud(f"the vulnerability service could not audit {len(skipped)} of {len(dependencies)} packages")
        return 0
    for dep in skipped:
        sys.stderr.write(f"make audit: NOT audited: {dep['skip_reason']}\n")
    vulnerable = [d for d in dependencies if d.get("vulns")]
    checked = len(dependencies) - len(skipped)
    if not vulnerable:
        sys.stdout.write(f"make audit: {checked} locked packages, no known vulnerabilities\n")
        return 0
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            sys.stdout.write(f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixed})\n")
    sys.stdout.write(f"make audit: {len(vulnerable)} of {checked} locked packages have known vulnerabilities\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
