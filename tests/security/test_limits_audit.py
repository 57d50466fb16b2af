"""``make audit`` (issue 17): a found vulnerability fails; an unreachable vulnerability service skips loudly."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("_infra_audit", ROOT / "infra" / "audit.py")
assert _spec is not None
assert _spec.loader is not None
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)


def test_offline_is_a_loud_skip_not_a_failure() -> None:
    refused = "http://127.0.0.1:9"  # nothing listens on the discard port: the service is unreachable
    env = {**os.environ, "HTTPS_PROXY": refused, "https_proxy": refused, "NO_PROXY": "", "no_proxy": ""}
    done = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "audit.py")], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "make audit SKIPPED" in done.stderr
    assert "NOT checked" in done.stderr


def test_a_known_vulnerability_fails(capsys: pytest.CaptureFixture[str]) -> None:
    report = {
        "dependencies": [
            {"name": "jinja2", "version": "2.10", "vulns": [{"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"]}]},
            {"name": "msgspec", "version": "0.19.0", "vulns": []},
        ]
    }
    assert audit.verdict(report) == 1
    assert "jinja2 2.10: PYSEC-2019-217 (fixed in 2.10.1)" in capsys.readouterr().out


def test_clean_and_unauditable_reports() -> None:
    assert audit.verdict({"dependencies": [{"name": "msgspec", "version": "0.19.0", "vulns": []}]}) == 0
    # Most packages not auditable = the service is not really there: a loud skip, not a silent pass.
    unaudited = {"dependencies": [{"name": "x", "version": "1", "skip_reason": "not found on PyPI"}] * 3}
    assert audit.verdict(unaudited) == 0
