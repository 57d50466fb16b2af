"""Reading the 随车清单 (environmental information list) QR code into ledger fields.

The QR content is not public (REGULATION.md §3.7, §7), so the parser accepts the shapes seen in
practice and keeps the key table as data:

* delimited ``key:value`` pairs (``|``, ``;``, ``，``, new lines; full-width colons too), optionally led by
  a title such as ``随车清单`` — the shape PLATFORM-NOTES.md §5 tested;
* a JSON object (Chinese keys, pinyin initials such as ``clsbdh``/``xxgkbh``, or English);
* a URL or ``k=v&k=v`` query string (a verification link of the disclosure site);
* a bare VIN or a bare 24-character 信息公开编号.

Every value is checked with ``hj1321`` (VIN check digit, emission stage, fuel, vehicle type, dates);
the stage is also read from the disclosure number (``G6`` → 国六) when the payload does not say it,
and a contradiction between the two is an error. Images are decoded with OpenCV's
``QRCodeDetectorAruco`` (PLATFORM-NOTES.md §5: it reads rotated, noisy scenes the classic detector
misses; segno output without ECI).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Final

from cloud.compliance.tables import parse_date, parse_int
from cloud.domain.common import FieldErrors
from cloud.lib.problems import FieldError, ProblemError
from hj1321.emission import parse_emission_stage
from hj1321.errors import InvalidValueError
from hj1321.identifiers import parse_vin
from hj1321.machinery import parse_info_disclosure_number
from hj1321.vehicles import FuelType, VehicleType

MAX_PAYLOAD: Final = 4096
#: field → key spellings (normalised: NFKC, lower case, no spaces/punctuation).
KEYS: Final[dict[str, tuple[str, ...]]] = {
    "vin": ("vin", "vin码", "车辆识别代号", "车辆识别代码", "车架号", "clsbdh", "车辆识别号"),
    "env_list_no": ("信息公开编号", "环保信息公开编号", "随车清单编号", "清单编号", "xxgkbh", "infono", "envlistno"),
    "emission_stage": ("排放阶段", "排放标准", "排放水平", "pfjd", "pfbz", "emissionstage", "stage"),
    "brand_model": ("车辆型号", "品牌型号", "整车型号", "车型", "clxh", "model", "brandmodel"),
    "engine_model": ("发动机型号", "fdjxh", "enginemodel"),
    "engine_maker": ("发动机生产企业", "发动机生产厂", "发动机制造商", "fdjscqy", "fdjsccj", "enginemaker"),
    "engine_no": ("发动机号码", "发动机编号", "发动机号", "fdjh", "engineno"),
    "fuel_type": ("燃料类型", "燃料种类", "燃料", "rllx", "fueltype", "fuel"),
    "production_date": ("生产日期", "出厂日期", "制造日期", "ccrq", "scrq", "productiondate"),
    "vehicle_type": ("车辆类型", "车辆类别", "cllx", "vehicletype"),
    "total_mass_kg": ("总质量", "最大总质量", "zzl", "totalmass", "totalmasskg"),
    "rated_load_kg": ("核定载质量", "额定载质量", "hdzzl", "ratedload", "ratedloadkg"),
}
#: Keys we recognise but do not store (manufacturer, brand…): they make a payload "ours" without a field.
KNOWN_EXTRA: Final = ("生产企业", "制造商", "车辆生产企业", "品牌", "商标", "scqy", "随车清单", "title", "type", "版本")
_LOOKUP: Final = {spelling: name for name, spellings in KEYS.items() for spelling in spellings}
_PAIR: Final = re.compile(r"^\s*([^:：=]{1,24}?)\s*[:：=]\s*(.*?)\s*$")
_SPLIT: Final = re.compile(r"[|;；\n\r\t]|,(?=[^,:：=]{1,24}[:：=])|，(?=[^，:：=]{1,24}[:：=])")
_VIN_LIKE: Final = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_INFO_LIKE: Final = re.compile(r"^CN[A-Z0-9]{22}$")


def _key(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw).lower()
    return re.sub(r"[\s_\-.·()（）/]", "", text)


@dataclass
class QrResult:
    """Fields read from one payload, with what was wrong and what was noticed."""

    shape: str
    fields: dict[str, Any] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unknown_keys: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Usable: at least one field and no error."""
        return bool(self.fields) and not self.errors


def _pairs(  # noqa: C901, PLR0912 - one branch per payload shape
    payload: str,
) -> tuple[str, list[tuple[str, Any]]]:
    text = payload.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"JSON 格式错误：{exc.msg}（第 {exc.pos} 个字符）") from exc
        if not isinstance(doc, dict):
            raise ValueError("JSON 内容应为对象")
        flat: list[tuple[str, Any]] = []
        for k, v in doc.items():
            if isinstance(v, dict):
                flat.extend((str(k2), v2) for k2, v2 in v.items())
            else:
                flat.append((str(k), v))
        return "json", flat
    if re.match(r"^https?://", text, re.IGNORECASE):
        query = urllib.parse.urlsplit(text).query
        return "url", urllib.parse.parse_qsl(query, keep_blank_values=True)
    if "=" in text and "&" in text and not re.search(r"[:：]", text):
        return "query", urllib.parse.parse_qsl(text, keep_blank_values=True)
    compact = "".join(text.split()).upper()
    if _VIN_LIKE.match(compact):
        return "vin", [("vin", compact)]
    if _INFO_LIKE.match(compact):
        return "info_number", [("xxgkbh", compact)]
    pairs = []
    for part in _SPLIT.split(text):
        if not part.strip():
            continue
        match = _PAIR.match(part)
        if match:
            pairs.append((match.group(1), match.group(2)))
        elif _key(part) in {_key(k) for k in KNOWN_EXTRA}:
            continue  # a title line such as 随车清单
        else:
            pairs.append(("", part.strip()))
    return "delimited", pairs


def _parse_field(name: str, value: Any) -> Any:  # noqa: C901, PLR0911 - one parser per field
    text = str(value).strip()
    if name == "vin":
        return parse_vin(text)
    if name == "emission_stage":
        return parse_emission_stage(text).code
    if name == "fuel_type":
        return FuelType.parse(text).code
    if name == "vehicle_type":
        return VehicleType.parse(text).code
    if name == "env_list_no":
        return parse_info_disclosure_number(text).number
    if name == "production_date":
        day = parse_date(value)
        if day > dt.datetime.now(dt.UTC).date():
            raise ValueError("生产日期不能晚于今天")
        return day
    if name in {"total_mass_kg", "rated_load_kg"}:
        number = parse_int(re.sub(r"(?i)\s*kg$|千克$|公斤$", "", text), "质量")
        if not 0 < number <= 200_000:
            raise ValueError("质量应在 1–200000 千克之间")
        return number
    if len(text) > 64:
        raise ValueError("内容过长（最多 64 个字）")
    return text


def parse_payload(payload: str) -> QrResult:  # noqa: C901, PLR0912 - one pass over the pairs
    """Read a decoded QR payload into ledger fields; problems are reported per field, never raised."""
    if not isinstance(payload, str) or not payload.strip():
        return QrResult("empty", errors=[FieldError(field="payload", code="qr.empty", message="二维码内容为空")])
    if len(payload) > MAX_PAYLOAD:
        message = f"二维码内容过长（{len(payload)} 个字符）"
        return QrResult("invalid", errors=[FieldError(field="payload", code="qr.too_long", message=message)])
    if any(unicodedata.category(c) == "Cc" and c not in "\r\n\t" for c in payload):
        message = "二维码内容含有控制字符，可能不是随车清单"
        return QrResult("invalid", errors=[FieldError(field="payload", code="qr.binary", message=message)])
    try:
        shape, pairs = _pairs(payload)
    except ValueError as exc:
        return QrResult("invalid", errors=[FieldError(field="payload", code="qr.malformed", message=str(exc))])
    result = QrResult(shape)
    errors = FieldErrors()
    recognised = False
    for raw_key, value in pairs:
        name = _LOOKUP.get(_key(raw_key))
        if name is None:
            if _key(raw_key) in {_key(k) for k in KNOWN_EXTRA}:
                recognised = True
            elif raw_key:
                result.unknown_keys.append(raw_key)
            continue
        recognised = True
        if value is None or str(value).strip() == "":
            continue
        if name in result.fields:
            result.warnings.append(f"字段“{raw_key}”重复出现，已采用第一次的值")
            continue
        try:
            result.fields[name] = _parse_field(name, value)
        except InvalidValueError as exc:
            errors.add(name, exc.code, exc.message)
        except (ValueError, TypeError) as exc:
            errors.add(name, f"{name}.invalid", str(exc))
    if not recognised:
        message = "无法识别的二维码内容：不是随车清单（未找到车辆识别代号、信息公开编号等字段）"
        errors.add("payload", "qr.unrecognised", message)
    _cross_check(result, errors)
    result.errors = errors.errors
    return result


def _cross_check(result: QrResult, errors: FieldErrors) -> None:
    number = result.fields.get("env_list_no")
    if not number:
        return
    stage = parse_info_disclosure_number(number).emission_stage
    if stage is None:
        return
    given = result.fields.get("emission_stage")
    if given is None:
        result.fields["emission_stage"] = stage.code
        result.warnings.append(f"排放阶段由信息公开编号推定为{stage.label}")
    elif given != stage.code:
        message = f"排放阶段“{parse_emission_stage(given).label}”与信息公开编号所示“{stage.label}”不一致"
        errors.add("emission_stage", "emission_stage.mismatch", message)


def decode_image(data: bytes) -> str:
    """The text of the QR code in an image (JPEG/PNG/WebP).

    Raises:
        ProblemError: 422 ``qr_not_found`` when no code can be read, 415 for an image we cannot open,
            503 ``qr_unavailable`` when OpenCV is not installed on this server.
    """
    try:
        import cv2  # noqa: PLC0415 - heavy; only QR imports need it
        import numpy as np  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProblemError(
            503, "qr_unavailable", "二维码识别不可用", "服务器未安装 OpenCV，请上传二维码文字内容"
        ) from exc
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ProblemError(415, "unsupported_media_type", "无法读取图片", "图片格式无法识别（应为 JPEG、PNG 或 WebP）")
    for detector in (cv2.QRCodeDetectorAruco(), cv2.QRCodeDetector()):
        text, _points, _ = detector.detectAndDecode(image)
        if text:
            return str(text)
    raise ProblemError(
        422, "qr_not_found", "未识别到二维码", "图片中未找到可识别的二维码，请拍摄清晰、完整的随车清单二维码"
    )
