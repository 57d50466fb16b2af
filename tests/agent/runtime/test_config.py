"""Strict agent configuration: valid files load, unknown keys and out-of-range values are refused in Chinese."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.runtime.config import ConfigError, load_config, parse_config

BASE: dict[str, Any] = {
    "agent": {"id": "agent-1", "data_dir": "/tmp/ecogate-test"},
    "site": {"id": "site-1", "name": "青山厂区"},
    "booth": {"enabled": False},
    "devices": {"barriers": [{"type": "virtual", "name": "east-barrier"}]},
    "lanes": [
        {
            "id": "east-in",
            "name": "东门入口",
            "direction": "in",
            "barrier": "east-barrier",
            "source": {"type": "spool", "path": "/tmp/reads.jsonl"},
        }
    ],
}


def _errors(mutate: Callable[[dict[str, Any]], None]) -> list[str]:
    raw = copy.deepcopy(BASE)
    mutate(raw)
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    return info.value.errors


def test_valid_mapping_is_accepted_with_defaults() -> None:
    cfg = parse_config(BASE)
    assert cfg.lanes[0].barrier == "east-barrier"
    assert cfg.agent.restart_budget == 5
    assert cfg.agent.command_journal is True
    assert cfg.data_path == Path("/tmp/ecogate-test")


def test_valid_file_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        '[agent]\nid = "a"\ndata_dir = "/d"\n[site]\nid = "s"\nname = "厂"\n[booth]\nenabled = false\n'
        '[[lanes]]\nid = "l"\nname = "门"\ndirection = "out"\n[lanes.source]\ntype = "spool"\npath = "/r"\n',
        encoding="utf-8",
    )
    assert load_config(path).lanes[0].direction == "out"


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda c: c.__setitem__("bogus", 1), "bogus"),
        (lambda c: c["agent"].__setitem__("colour", "red"), "agent.colour"),
        (lambda c: c["lanes"][0]["source"].__setitem__("speed", 2), "lanes[0].source.speed"),
    ],
)
def test_unknown_key_is_rejected_naming_it(mutate: Callable[[dict[str, Any]], None], key: str) -> None:
    (error,) = _errors(mutate)
    assert error.startswith("未知的配置项")
    assert key in error


@pytest.mark.parametrize(
    ("mutate", "key", "bound"),
    [
        (lambda c: c["agent"].__setitem__("restart_budget", 1000), "agent.restart_budget", "≤ 100"),
        (lambda c: c["booth"].__setitem__("port", 70000), "booth.port", "≤ 65535"),
        (lambda c: c["lanes"][0]["source"].__setitem__("poll_s", 0.0), "lanes[0].source.poll_s", "> 0.0"),
    ],
)
def test_out_of_range_value_is_rejected_naming_the_key(
    mutate: Callable[[dict[str, Any]], None], key: str, bound: str
) -> None:
    (error,) = _errors(mutate)
    assert "超出范围" in error
    assert key in error
    assert bound in error


def test_wrong_type_and_missing_field() -> None:
    (error,) = _errors(lambda c: c["agent"].__setitem__("restart_budget", "5"))
    assert error == "配置项 agent.restart_budget 类型错误：应为整数，实际为字符串"
    (error,) = _errors(lambda c: c["site"].pop("name"))
    assert error == "缺少必填项 site.name"


def test_references_must_resolve() -> None:
    errors = _errors(lambda c: c["lanes"][0].update(barrier="nope", camera="cam-x"))
    assert any("lanes[0].barrier" in e and "nope" in e for e in errors)
    assert any("lanes[0].camera" in e and "cam-x" in e for e in errors)


def test_invalid_device_table_is_reported_with_its_section() -> None:
    errors = _errors(lambda c: c["devices"]["barriers"][0].__setitem__("type", "teleporter"))
    assert any(e.startswith("devices.barriers[0]") for e in errors)


def test_booth_needs_a_guard() -> None:
    errors = _errors(lambda c: c.__setitem__("booth", {"enabled": True}))
    assert any("booth.guards" in e for e in errors)
