"""``ecogate agent check-config``: a valid file passes, malformed ones are refused naming the key."""

from __future__ import annotations

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
