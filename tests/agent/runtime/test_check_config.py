"""``ecogate agent check-config``: a valid file passes, malformed ones are refused naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.runtime.cli_check import main

VALID = """
[agent]
id = "agent-1"
data_dir = "{data}"

[booth]
enabled = false

[site]
id = "site-1"
name = "青山厂区"

[[lanes]]
id = "east-in"
name = "东门入口"
direction = "in"

[lanes.source]
type = "spool"
path = "{data}/reads.jsonl"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text.replace("{data}", str(tmp_path / "data")), encoding="utf-8")
    return path


def test_valid_config_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(_write(tmp_path, VALID))]) == 0
    assert "配置有效" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (VALID.replace('name = "青山厂区"', 'name = "青山厂区"\ncolour = "red"'), "colour"),
        (VALID.replace('direction = "in"', 'direction = "sideways"'), "direction"),
        (VALID + "\n[agent.extra]\n", "agent"),
    ],
)
def test_malformed_config_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    assert main([str(_write(tmp_path, text))]) == 2
    assert key in capsys.readouterr().err


def test_missing_file_and_usage(tmp_path: Path) -> None:
    assert main([str(tmp_path / "absent.toml")]) == 2
    assert main([]) == 2


def test_ecogate_agent_check_config_exit_codes(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("ecogate")
    good = _write(tmp_path, VALID)
    ok = subprocess.run([str(exe), "agent", "check-config", str(good)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "配置有效" in ok.stdout
    assert "车道 east-in（东门入口" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(VALID.replace('direction = "in"', "direction = 7").replace("{data}", "/d"), encoding="utf-8")
    refused = subprocess.run([str(exe), "agent", "check-config", str(bad)], capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert "lanes[0].direction" in refused.stderr
    assert "有 1 处错误" in refused.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[agent\n", encoding="utf-8")
    invalid = subprocess.run(
        [str(exe), "agent", "check-config", str(broken)], capture_output=True, text=True, check=False
    )
    assert invalid.returncode == 2
    assert "不是有效的 TOML" in invalid.stderr
