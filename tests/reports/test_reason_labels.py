"""Refusal reasons are shown by their Chinese names in the ledgers and exports, whatever the agent wrote (issue 15).

A fresh ``make demo`` exported the unregistered truck's refusal as ``unknown_vehicle、应急期间…``: the agent's
decision engine writes ``unknown_vehicle`` (and a few other codes beside the policy rules), the reports knew
only ``unregistered``. The pass is stored here through the ledger's write path like the hub stores it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from agent.decision import engine
from cloud.compliance.checks import REASONS
from cloud.reports.stats import REASON_LABELS
from hj1321.rules import default_policy

pytestmark = pytest.mark.anyio

#: Codes the engine puts into a refusal besides the policy's rules (``refuse[...]`` in agent/decision/engine.py).
ENGINE_REFUSALS = ("plate_unreadable", "low_confidence", "registry_inactive", "unknown_vehicle", "daily_cap_reached")
_INTERNAL_NOTE = re.compile(r"REGULATION\.md|PRODUCT\.md|docs/|§|\[I\]|\[S\]")


def test_every_refusal_code_of_the_agent_has_a_chinese_name() -> None:
    codes = {*ENGINE_REFUSALS, "regulator_refused", *(rule.reason for rule in default_policy().rules)}
    assert set(ENGINE_REFUSALS) <= set(engine.REASON_TEXT)
    missing = sorted(c for c in codes if c not in REASON_LABELS)
    assert missing == []


def test_user_visible_texts_cite_no_internal_documents() -> None:
    texts = [*REASON_LABELS.values(), *(t for pair in REASONS.values() for t in pair)]
    assert [t for t in texts if _INTERNAL_NOTE.search(t)] == []


async def test_unregistered_truck_refusal_reads_in_chinese_in_ledgers_and_csv(
    client: Any, make_ledger: Any, add_passes: Any
) -> None:
    ledger = await make_ledger(seed=3, per_day=1)
    day = dt.date(2026, 9, 14)
    await add_passes(
        ledger,
        [
            {
                "occurred_at": dt.datetime(2026, 9, 14, 2, 30, tzinfo=dt.UTC),
                "plate": "鄂H62817",
                "decision": "refuse",
                "reason_codes": ["unknown_vehicle", "emergency_heavy_stage"],
                "payload": {"emergency_level": "orange"},
            }
        ],
    )
    params = {"period": "day", "date": day.isoformat()}
    for report, column in (("transport_passes", "note"), ("interceptions", "reasons")):
        r = await client.get(ledger.url(f"reports/ledgers/{report}"), params=params, headers=ledger.headers)
        assert r.status_code == 200, r.text
        row = next(x for x in r.json()["rows"] if x["plate"] == "鄂H62817")
        assert row[column] == "未登记车辆、应急期间重型货车排放阶段不达标", (report, row[column])
    csv = await client.get(
        ledger.url("reports/ledgers/interceptions/export"), params={**params, "format": "csv"}, headers=ledger.headers
    )
    assert csv.status_code == 200
    assert "unknown_vehicle" not in csv.text
    assert "未登记车辆" in csv.text
