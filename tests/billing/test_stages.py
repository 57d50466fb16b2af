"""The dunning state machine (cloud/billing/stages.py) and the ``ecogate billing`` commands."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cloud.billing import stages

T0 = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("status", "since", "trial_ends", "now", "expected"),
    [
        ("trialing", None, T0 + DAY, T0, "trialing"),
        ("trialing", None, T0, T0 + DAY, "past_due"),  # the trial ended unpaid
        ("trialing", None, T0, T0 + 4 * DAY, "grace"),
        ("active", None, T0, T0 + 99 * DAY, "active"),
        ("past_due", T0, T0, T0 + 2 * DAY, "past_due"),
        ("past_due", T0, T0, T0 + 3 * DAY, "grace"),
        ("past_due", T0, T0, T0 + 16 * DAY, "grace"),
        ("past_due", T0, T0, T0 + 17 * DAY, "restricted"),
        ("canceled", None, T0, T0, "restricted"),
    ],
)
def test_stage_of(status: str, since: Any, trial_ends: Any, now: Any, expected: str) -> None:
    assert stages.stage_of(status, since, trial_ends, now) == expected


def test_dunning_only_moves_forward_while_unpaid_and_resets_when_paid() -> None:
    assert stages.next_stage("restricted", "past_due") == "restricted"  # a late event, a stale clock
    assert stages.next_stage("grace", "restricted") == "restricted"
    assert stages.next_stage("restricted", "active") == "active"  # paid
    assert stages.next_stage("trialing", "past_due") == "past_due"
    assert stages.grace_ends(T0) == T0 + 17 * DAY
    assert stages.status_of_subscription("unpaid") == "past_due"
    assert stages.status_of_subscription("incomplete_expired") == "canceled"
    assert set(stages.LABELS) == set(stages.ORDER)


def test_the_billing_commands_run(db_urls: Any) -> None:
    env = {
        **os.environ,
        "DATABASE_APP_URL": db_urls.app_url,
        "DATABASE_OWNER_URL": db_urls.owner_url,
        "DATABASE_REGULATOR_URL": db_urls.regulator_url,
    }
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()  # not far: the worker's DB is shared
    sweep = subprocess.run(
        [sys.executable, "-m", "ecogate_cli", "billing", "sweep", "--now", soon],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr
    assert "催缴检查完成" in sweep.stdout
    overview = subprocess.run(
        [sys.executable, "-m", "ecogate_cli", "billing", "overview"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert overview.returncode == 0, overview.stderr
    assert "月经常性收入" in overview.stdout
