"""The agent's one configuration file (TOML): site, lanes, cameras, devices, policy defaults, outbox, booth.

Parsed once with :mod:`tomllib` into one validated :class:`AgentConfig`. Validation is strict:
unknown keys are rejected, every field is described and bounded (``msgspec.Meta``), references
between sections (a lane's camera, barrier, LED) must resolve, and every error message is Chinese
and names the key (``lanes[0].direction``). Device sections are validated by the device
registries of :mod:`agent.devices` (selected by their ``type`` key).

Example::

    [agent]
    id = "agent-hb-001"
    data_dir = "/var/lib/ecogate"

    [site]
    id = "site-1"
    name = "某水泥厂一厂区"
    grade = "B"

    [[cameras]]
    id = "cam-in-1"
    url = "rtsp://192.168.1.64/stream1"
    roi = [200, 300, 1100, 700]

    [[devices.barriers]]
    type = "modbus_relay"
    name = "in-1-barrier"
    port = "/dev/ttyUSB0"

    [[lanes]]
    id = "in-1"
    name = "1号门入口"
    direction = "in"
    camera = "cam-in-1"
    barrier = "in-1-barrier"
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec

from agent.decision.engine import DecisionSettings
from agent.devices.config import DeviceConfig
from agent.devices.registry import (
    BARRIERS,
    DIGITAL_INPUTS,
    LED_DISPLAYS,
    WEIGHBRIDGES,
    DeviceConfigError,
    DeviceRegistry,
)
from agent.outbox.store import OutboxSettings
from agent.runtime import virtual as _virtual  # noqa: F401 - registers the "virtual" barrier type
from agent_protocol.events import Direction

__all__ = [
    "AgentConfig",
    "AgentSection",
    "BoothConfig",
    "CameraConfig",
    "ConfigError",
    "DevicesConfig",
    "EvidenceConfig",
    "GuardAccount",
    "LaneConfig",
    "LaneSourceConfig",
    "NvrConfig",
    "SiteConfig",
    "device_configs",
    "load_config",
    "parse_config",
]

Ident = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.\-]{1,64}$", description="标识：字母、数字、_ . -，1–64 位")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="显示名称")]


class ConfigError(ValueError):
    """The configuration is invalid; ``errors`` lists every problem (Chinese, each naming its key)."""

    def __init__(self, errors: list[str]) -> None:
        """Keep the list and make a readable message."""
        super().__init__("\n".join(errors))
        self.errors = errors


class AgentSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[agent]``: identity of this agent and where it keeps its data."""

    id: Annotated[Ident, msgspec.Meta(description="代理标识（注册时由云端分配）")]
    data_dir: Annotated[
        str, msgspec.Meta(min_length=1, max_length=4096, description="数据目录：发件箱、照片、车辆库副本")
    ]
    log_level: Annotated[Literal["debug", "info", "warning", "error"], msgspec.Meta(description="日志级别")] = "info"
    command_journal: Annotated[
        bool, msgspec.Meta(description="把每条道闸指令追加写入 data_dir/barrier-commands.log（fsync）")
    ] = True
    restart_budget: Annotated[int, msgspec.Meta(ge=0, le=100, description="看门狗：时间窗内最多重启工作单元的次数")] = 5
    restart_window_s: Annotated[
        float, msgspec.Meta(ge=1.0, le=3600.0, description="看门狗重启次数的统计时间窗（秒）")
    ] = 60.0


class SiteConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[site]``: the plant site this agent serves."""

    id: Annotated[Ident, msgspec.Meta(description="厂区标识")]
    name: Annotated[Name, msgspec.Meta(description="厂区名称")]


class NvrConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the NVR records this camera (evidence reference instead of, or besides, a clip)."""

    nvr: Annotated[Ident, msgspec.Meta(description="硬盘录像机标识")]
    channel: Annotated[int, msgspec.Meta(ge=0, le=1024, description="录像通道号")]


class CameraConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[[cameras]]``: one camera (RTSP URL, video file or image folder)."""

    id: Annotated[Ident, msgspec.Meta(description="相机标识，车道用它引用")]
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048, description="RTSP 地址、视频文件或图片目录")]
    roi: Annotated[
        tuple[int, int, int, int] | None,
        msgspec.Meta(description="车牌识别区域 [x1, y1, x2, y2]（像素），留空为全画面"),
    ] = None
    fps: Annotated[float, msgspec.Meta(gt=0.0, le=60.0, description="处理帧率上限")] = 8.0
    nvr: Annotated[NvrConfig | None, msgspec.Meta(description="录像机位置（证据引用）")] = None
    push_format: Annotated[
        Literal["hikvision-isapi", "dahua-itc", "vzenith-vz", "generic-json"] | None,
        msgspec.Meta(
            description="摄像机推送识别结果的格式（海康 ISAPI、大华 ITC、臻识 VZ、通用 JSON）；"
            "留空则接受任一格式（docs/devices.md“摄像机推送”）"
        ),
    ] = None
    clock_skew_s: Annotated[
        float, msgspec.Meta(gt=0.0, le=86400.0, description="摄像机时钟与本机相差超过此秒数时报警")
    ] = 120.0


class LaneSourceConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[lanes.source]``: where vehicle reads come from."""

    type: Annotated[
        Literal["camera", "spool", "camera_push"],
        msgspec.Meta(
            description="camera：相机画面→识别→投票；spool：从 JSON 行文件读取（演示、压力测试）；"
            "camera_push：相机自行识别并推送结果（格式见 cameras[].push_format）"
        ),
    ] = "camera"
    path: Annotated[str, msgspec.Meta(max_length=4096, description="spool 文件路径")] | None = None
    push_host: Annotated[
        str, msgspec.Meta(min_length=1, max_length=255, description="camera_push：接收推送的本机地址（车道网段）")
    ] = "0.0.0.0"  # noqa: S104 - the lane network; the installer sets the lane interface's address
    push_port: Annotated[int, msgspec.Meta(ge=0, le=65535, description="camera_push：接收推送的端口")] | None = None
    poll_s: Annotated[float, msgspec.Meta(gt=0.0, le=10.0, description="spool 文件轮询间隔（秒）")] = 0.05


class LaneConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[[lanes]]``: one lane (one direction of one gate)."""

    id: Annotated[Ident, msgspec.Meta(description="车道标识")]
    name: Annotated[Name, msgspec.Meta(description="车道名称（岗亭显示）")]
    direction: Annotated[Direction, msgspec.Meta(description="方向：in 入场，out 出场")]
    gate: Annotated[Ident | None, msgspec.Meta(description="所属出入口标识")] = None
    camera: Annotated[Ident | None, msgspec.Meta(description="相机标识（cameras[].id）")] = None
    barrier: Annotated[Ident | None, msgspec.Meta(description="道闸设备名（devices.barriers[].name）")] = None
    led: Annotated[Ident | None, msgspec.Meta(description="LED 屏设备名（devices.leds[].name）")] = None
    weighbridge: Annotated[Ident | None, msgspec.Meta(description="地磅设备名（devices.weighbridges[].name）")] = None
    weigh_wait_s: Annotated[
        float,
        msgspec.Meta(
            ge=0.0,
            le=600.0,
            description="有地磅的车道：放行后该车的稳定重量最晚在此秒数内到达（不延迟抬杆，称重结果随后补录；"
            "超时记录缺少称重）",
        ),
    ] = 60.0
    weigh_before_s: Annotated[
        float,
        msgspec.Meta(
            ge=0.0,
            le=600.0,
            description="有地磅的车道：识别时车辆已在秤台上（秤台在道闸前），上秤不早于此秒数时称重归属本次通行",
        ),
    ] = 120.0
    early_read: Annotated[
        bool,
        msgspec.Meta(
            description="相机车道：多帧识别一致且置信度高时立即判定（不等车辆驶离画面）；"
            "过车前后的完整视频片段在判定后补录（clip_after_s 秒后）"
        ),
    ] = True
    duplicate_window_s: Annotated[
        float,
        msgspec.Meta(
            ge=0.0,
            le=3600.0,
            description="相机车道：同一车牌在此秒数内再次识别视为同一次过车（车辆在道闸前停留不重复记录）",
        ),
    ] = 60.0
    max_read_age_s: Annotated[
        float,
        msgspec.Meta(
            ge=1.0,
            le=3600.0,
            description="识别结果超过此秒数才处理（断电重启后重放、存储满后延迟）时只记录、不自动抬杆",
        ),
    ] = 15.0
    motion_gate: Annotated[
        bool,
        msgspec.Meta(description="相机车道：画面无变化时不做车牌识别（空闲车道几乎不占 CPU；车辆驶入的第一帧即识别）"),
    ] = True
    source: Annotated[LaneSourceConfig, msgspec.Meta(description="车辆识别结果来源")] = LaneSourceConfig()


class EvidenceConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[evidence]``: what each pass keeps besides its photos."""

    clip: Annotated[bool, msgspec.Meta(description="保存过车前后的视频片段")] = True
    clip_before_s: Annotated[float, msgspec.Meta(ge=0.0, le=60.0, description="过车前保留秒数")] = 5.0
    clip_after_s: Annotated[float, msgspec.Meta(ge=0.0, le=60.0, description="过车后保留秒数")] = 3.0
    clip_fps: Annotated[float, msgspec.Meta(gt=0.0, le=25.0, description="视频片段帧率")] = 4.0
    jpeg_quality: Annotated[int, msgspec.Meta(ge=20, le=95, description="照片与片段的 JPEG 质量")] = 80


class GuardAccount(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[[booth.guards]]``: a gate guard who may sign in to the booth (works offline)."""

    name: Annotated[Name, msgspec.Meta(description="门岗姓名（记入人工放行记录）")]
    account: Annotated[Ident | None, msgspec.Meta(description="门岗账号/工号（记入人工放行记录；缺省用姓名）")] = None
    pin_hash: Annotated[
        str, msgspec.Meta(pattern=r"^\$argon2id?\$", description="PIN 的 argon2 哈希（用 ecogate agent hash-pin 生成）")
    ]


class BoothConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[booth]``: the guard's web page served on the local network."""

    enabled: Annotated[bool, msgspec.Meta(description="启用岗亭页面")] = True
    host: Annotated[str, msgspec.Meta(max_length=255, description="监听地址")] = "0.0.0.0"  # noqa: S104 - local network by design
    port: Annotated[int, msgspec.Meta(ge=1, le=65535, description="监听端口")] = 8080
    session_minutes: Annotated[int, msgspec.Meta(ge=1, le=1440, description="门岗登录有效时长（分钟）")] = 720
    guards: Annotated[tuple[GuardAccount, ...], msgspec.Meta(description="门岗账号")] = ()


class DevicesConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[devices]``: lane hardware, each table selected by its ``type`` key (see docs/devices.md)."""

    barriers: Annotated[tuple[dict[str, Any], ...], msgspec.Meta(description="道闸")] = ()
    leds: Annotated[tuple[dict[str, Any], ...], msgspec.Meta(description="LED 显示屏")] = ()
    weighbridges: Annotated[tuple[dict[str, Any], ...], msgspec.Meta(description="地磅")] = ()
    inputs: Annotated[tuple[dict[str, Any], ...], msgspec.Meta(description="地感线圈等开关量输入")] = ()


class CloudSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[cloud]``: sync with the cloud (credential from ``ecogate agent enroll``; docs/sync.md)."""

    url: (
        Annotated[
            str,
            msgspec.Meta(max_length=2048, pattern="^wss?://", description="云端代理通道地址（缺省取注册凭据中的地址）"),
        ]
        | None
    ) = None
    credential_file: (
        Annotated[str, msgspec.Meta(max_length=4096, description="注册凭据文件（缺省 data_dir/credential.json）")]
        | None
    ) = None
    heartbeat_s: Annotated[float, msgspec.Meta(ge=1.0, le=300.0, description="心跳间隔（秒）")] = 15.0
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=500, description="每批上传的事件数")] = 100
    precheck: Annotated[
        bool,
        msgspec.Meta(
            description="放行前经云端向监管平台预检车辆（平台协议须有预检接口；最长等待 policy.precheck_timeout_s，"
            "超时、离线或平台故障时按本地规则判定）"
        ),
    ] = False


class AgentConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole configuration file."""

    agent: AgentSection
    site: SiteConfig
    lanes: Annotated[tuple[LaneConfig, ...], msgspec.Meta(min_length=1, description="车道（至少一条）")]
    cameras: tuple[CameraConfig, ...] = ()
    devices: DevicesConfig = DevicesConfig()
    policy: Annotated[DecisionSettings, msgspec.Meta(description="本地判定设置")] = DecisionSettings()
    outbox: Annotated[OutboxSettings, msgspec.Meta(description="发件箱容量预算")] = OutboxSettings()
    evidence: EvidenceConfig = EvidenceConfig()
    booth: BoothConfig = BoothConfig()
    cloud: Annotated[CloudSection | None, msgspec.Meta(description="云端同步（缺省则只在本地运行）")] = None
    registry_seed: Annotated[str, msgspec.Meta(max_length=4096, description="首次启动时导入的车辆库 JSON")] | None = (
        None
    )
    policy_file: (
        Annotated[str, msgspec.Meta(max_length=4096, description="本地管控策略 JSON（云端下发前使用）")] | None
    ) = None

    @property
    def data_path(self) -> Path:
        """The data folder."""
        return Path(self.agent.data_dir)


_TYPE_NAMES: Final = {
    "int": "整数",
    "float": "数字",
    "str": "字符串",
    "bool": "布尔值（true/false）",
    "object": "表（table）",
    "array": "数组",
    "null": "空",
}
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<f>[^`]+)`(?: - at `\$(?P<p>[^`]*)`)?")
_MISSING = re.compile(r"Object missing required field `(?P<f>[^`]+)`(?: - at `\$(?P<p>[^`]*)`)?")
_EXPECTED = re.compile(r"Expected `(?P<e>[^`]+)`(?P<c>[^-]*?)(?:, got `(?P<g>[^`]+)`)?(?: - at `\$(?P<p>[^`]*)`)?$")
_ENUM = re.compile(r"Invalid enum value (?P<v>.+?)(?: - at `\$(?P<p>[^`]*)`)?$")
_AT = re.compile(r"(?P<m>.*?)(?: - at `\$(?P<p>[^`]*)`)?$")


def _key(path: str | None, field: str | None = None) -> str:
    key = (path or "").lstrip(".")
    if field:
        key = f"{key}.{field}" if key else field
    return key or "（根）"


def _type_name(name: str | None) -> str:
    if not name:
        return "?"
    return " 或 ".join(_TYPE_NAMES.get(part.strip(), part.strip()) for part in name.split("|"))


def translate_validation_error(message: str, prefix: str = "") -> str:
    """Turn a msgspec validation message into Chinese that names the key."""

    def key(path: str | None, field: str | None = None) -> str:
        inner = _key(path, field)
        return f"{prefix}{'.' if prefix and not inner.startswith('[') else ''}{inner}" if prefix else inner

    if m := _UNKNOWN.match(message):
        return f"未知的配置项 {key(m['p'], m['f'])}（请检查拼写；不认识的键一律拒绝）"
    if m := _MISSING.match(message):
        return f"缺少必填项 {key(m['p'], m['f'])}"
    if m := _ENUM.match(message):
        return f"配置项 {key(m['p'])} 的取值 {m['v']} 无效"
    if m := _EXPECTED.match(message):
        cond = (m["c"] or "").strip()
        if cond:
            cond = (
                cond.replace(">=", "≥")
                .replace("<=", "≤")
                .replace("length", "长度")
                .replace("matching regex", "匹配格式")
            )
            return f"配置项 {key(m['p'])} 的值超出范围：应为{_type_name(m['e'])} {cond}"
        got = f"，实际为{_type_name(m['g'])}" if m["g"] else ""
        return f"配置项 {key(m['p'])} 类型错误：应为{_type_name(m['e'])}{got}"
    m = _AT.match(message)
    assert m is not None
    return f"配置项 {key(m['p'])} 无效：{m['m']}"


_DEVICE_REGISTRIES: Final[dict[str, DeviceRegistry[Any]]] = {
    "barriers": BARRIERS,
    "leds": LED_DISPLAYS,
    "weighbridges": WEIGHBRIDGES,
    "inputs": DIGITAL_INPUTS,
}


def _check_references(  # noqa: C901 - one flat list of cross-section checks
    cfg: AgentConfig, devices: dict[str, tuple[str, DeviceConfig]], errors: list[str]
) -> None:
    def dupes(kind: str, ids: list[str]) -> None:
        seen: set[str] = set()
        for i, ident in enumerate(ids):
            if ident in seen:
                errors.append(f"{kind}[{i}] 的标识“{ident}”重复")
            seen.add(ident)

    dupes("lanes", [lane.id for lane in cfg.lanes])
    dupes("cameras", [cam.id for cam in cfg.cameras])
    cameras = {c.id for c in cfg.cameras}
    for i, lane in enumerate(cfg.lanes):
        if lane.camera is not None and lane.camera not in cameras:
            errors.append(f"lanes[{i}].camera 引用了不存在的相机“{lane.camera}”")
        if lane.source.type == "camera" and lane.camera is None:
            errors.append(f"lanes[{i}].camera 缺失：来源为 camera 的车道必须指定相机")
        if lane.source.type == "camera_push" and (lane.camera is None or lane.source.push_port is None):
            errors.append(f"lanes[{i}]：来源为 camera_push 的车道必须指定 camera 和 source.push_port")
        if lane.source.type == "spool" and not lane.source.path:
            errors.append(f"lanes[{i}].source.path 缺失：来源为 spool 的车道必须指定文件")
        for attr, section in (("barrier", "barriers"), ("led", "leds"), ("weighbridge", "weighbridges")):
            name = getattr(lane, attr)
            if name is None:
                continue
            found = devices.get(name)
            if found is None or found[0] != section:
                errors.append(f"lanes[{i}].{attr} 引用了不存在的设备“{name}”（应在 devices.{section} 中）")
    if cfg.booth.enabled and not cfg.booth.guards:
        errors.append("booth.guards 为空：岗亭页面至少需要一个门岗账号才能人工放行")


def parse_config(raw: Mapping[str, Any]) -> AgentConfig:
    """Validate a mapping (parsed TOML) into an :class:`AgentConfig`.

    Raises:
        ConfigError: listing every problem found, each naming its key.
    """
    try:
        cfg = msgspec.convert(dict(raw), AgentConfig, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError([translate_validation_error(str(exc))]) from exc
    errors: list[str] = []
    devices = _parse_devices(cfg, errors)
    _check_references(cfg, devices, errors)
    if errors:
        raise ConfigError(errors)
    return cfg


def _parse_devices(cfg: AgentConfig, errors: list[str]) -> dict[str, tuple[str, DeviceConfig]]:
    devices: dict[str, tuple[str, DeviceConfig]] = {}
    for section, registry in _DEVICE_REGISTRIES.items():
        for i, item in enumerate(getattr(cfg.devices, section)):
            try:
                parsed = registry.parse(item)
            except DeviceConfigError as exc:
                errors.append(f"devices.{section}[{i}]：{exc}")
                continue
            if parsed.name in devices:
                errors.append(f"devices.{section}[{i}].name “{parsed.name}”与其他设备重名")
            devices[parsed.name] = (section, parsed)
    return devices


def device_configs(cfg: AgentConfig) -> dict[str, tuple[str, DeviceConfig]]:
    """The validated device configs by device name: ``name -> (section, config)``.

    Raises:
        ConfigError: when a device table is invalid (already caught by :func:`parse_config`).
    """
    errors: list[str] = []
    devices = _parse_devices(cfg, errors)
    if errors:
        raise ConfigError(errors)
    return devices


def load_config(path: Path) -> AgentConfig:
    """Read and validate the configuration file.

    Raises:
        ConfigError: unreadable file, invalid TOML or invalid content (Chinese, naming the key).
    """
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"无法读取配置文件 {path}：{exc.strerror or exc}"]) from exc
    try:
        raw = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError([f"配置文件 {path} 不是 UTF-8 编码：{exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"配置文件 {path} 不是有效的 TOML：{exc}"]) from exc
    return parse_config(raw)
