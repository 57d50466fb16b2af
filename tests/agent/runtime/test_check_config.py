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


# ---------------------------------------------------------------- machine checks (issue 16, finding 6)

WITH_DEVICES = (
    VALID
    + """
[[cameras]]
id = "cam-1"
url = "{camera}"

[[devices.barriers]]
type = "modbus_relay"
name = "east-barrier"
port = "{port}"
"""
)


def _machine(tmp_path: Path, *, port: str, camera: str) -> Path:
    return _write(tmp_path, WITH_DEVICES.replace("{port}", port).replace("{camera}", camera))


def test_a_missing_serial_port_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "frames").mkdir()
    path = _machine(tmp_path, port="/dev/ttyNOSUCH9", camera=str(tmp_path / "frames"))
    assert main([str(path)]) == 1
    err = capsys.readouterr().err
    assert "串口 /dev/ttyNOSUCH9 不存在" in err
    assert "环境检查未通过" in err
    assert main([str(path), "--no-probe"]) == 0  # the file itself is valid


def test_a_present_port_and_a_reachable_camera_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os  # noqa: PLC0415
    import pty  # noqa: PLC0415
    import socket  # noqa: PLC0415

    master, slave = pty.openpty()
    server = socket.create_server(("127.0.0.1", 0))
    try:
        port = server.getsockname()[1]
        path = _machine(tmp_path, port=os.ttyname(slave), camera=f"rtsp://127.0.0.1:{port}/stream")
        assert main([str(path)]) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        assert "可打开" in out
        assert f"127.0.0.1:{port} 可连接" in out
        assert "释放顺序" in out
    finally:
        server.close()
        os.close(master)
        os.close(slave)


def test_an_unreachable_camera_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket  # noqa: PLC0415

    with socket.create_server(("127.0.0.1", 0)) as probe:
        dead = probe.getsockname()[1]  # closed right after: nobody listens there
    path = _machine(tmp_path, port="/dev/null", camera=f"rtsp://127.0.0.1:{dead}/s")
    assert main([str(path), "--timeout", "0.5"]) == 1
    assert "无法连接" in capsys.readouterr().err


def test_a_budget_larger_than_a_small_disk_warns_and_says_what_goes_first(tmp_path: Path) -> None:
    from agent.runtime.cli_check import check_environment  # noqa: PLC0415
    from agent.runtime.config import load_config  # noqa: PLC0415

    cfg = load_config(_write(tmp_path, VALID))
    gib = 1024**3
    small = check_environment(cfg, free_bytes=8 * gib)  # the default budget is 36 GB of media
    disk = [f for f in small if f.text.startswith("磁盘")]
    assert [f.level for f in disk] == ["warn"]
    assert "预算超过可用空间" in disk[0].text
    tiny = check_environment(cfg, free_bytes=gib // 2)  # under the degrade line: photos go at once
    assert "新照片会立即被压缩或删除" in next(f.text for f in tiny if f.text.startswith("磁盘"))
    roomy = check_environment(cfg, free_bytes=100 * gib)
    assert [f.level for f in roomy if f.text.startswith("磁盘")] == ["ok"]
    assert any("通行事件记录本身永不删除" in f.text for f in roomy)
