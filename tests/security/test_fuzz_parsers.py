"""Property-based fuzzing of the parsers that read untrusted bytes (issue 17, hypothesis).

Each parser may only fail with its documented error type:

* the wire protocol (``agent_protocol.messages.decode``): ``ProtocolError`` (a deeply nested msgpack
  frame raised ``RecursionError`` before this test);
* the weighbridge serial-frame parsers and the LED frame decoder: never raise; garbage is counted;
* the 随车清单 QR payload parser (``cloud.compliance.qr.parse_payload``): never raises, reports per field;
* the import reader (``cloud.lib.spreadsheets``): ``ProblemError`` (422) only.

Example counts are small for CI (a few seconds in all); ``HYPOTHESIS_PROFILE=fuzz`` runs 50× more.
"""

from __future__ import annotations

import contextlib
import io
import os
import string
import zipfile
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.devices import led, scale_protocols
from agent_protocol import messages as msg
from cloud.compliance import qr
from cloud.lib import spreadsheets
from cloud.lib.problems import ProblemError
from tests.security.hostile_files import many_rows_xlsx

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.binary(max_size=40),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=30,
)


# Wire protocol -----------------------------------------------------------------------------------


def _decode_or_protocol_error(frame: bytes) -> None:
    with contextlib.suppress(msg.ProtocolError):
        msg.decode(frame)


@PROFILE
@given(st.binary(max_size=2048))
def test_decode_random_bytes(frame: bytes) -> None:
    _decode_or_protocol_error(frame)


@PROFILE
@given(
    st.sampled_from(sorted(msg._TAGS)),
    st.integers(min_value=-5, max_value=5),
    st.dictionaries(st.text(max_size=20), _values, max_size=8),
)
def test_decode_messages_of_every_type_with_arbitrary_fields(tag: str, version: int, fields: dict[str, Any]) -> None:
    frame = msgspec.msgpack.encode({**fields, "type": tag, "v": version})
    _decode_or_protocol_error(frame)


@PROFILE
@given(st.integers(min_value=1, max_value=200_000), st.sampled_from([b"\x91", b"\x81\xa1k"]))
def test_decode_deep_nesting(depth: int, opener: bytes) -> None:
    frame = b"\x83\xa4type\xa5hello\xa1v\x01\xa1x" + opener * depth + b"\xc0"
    _decode_or_protocol_error(frame)


# Serial frames -----------------------------------------------------------------------------------


@PROFILE
@given(
    st.sampled_from(scale_protocols.SCALE_PROTOCOLS),
    st.booleans(),
    st.lists(st.binary(max_size=64), max_size=20),
)
def test_scale_parsers_never_raise_on_garbage(protocol: Any, checksum: bool, chunks: list[bytes]) -> None:
    parser = scale_protocols.make_parser(protocol, checksum=checksum)
    for chunk in chunks:
        for frame in parser.feed(chunk):
            assert frame.kg == frame.kg  # a number, not NaN


@PROFILE
@given(
    st.sampled_from(scale_protocols.SCALE_PROTOCOLS),
    st.integers(min_value=0, max_value=99_999),
    st.binary(max_size=40),
    st.integers(min_value=1, max_value=7),
)
def test_scale_frame_is_found_after_garbage(protocol: Any, kg: int, garbage: bytes, split: int) -> None:
    frame = scale_protocols.encode_frame(protocol, float(kg))
    parser = scale_protocols.make_parser(protocol)
    stream = garbage + frame + frame  # the second copy is whole even if garbage swallowed part of the first
    found: list[scale_protocols.ScaleFrame] = []
    for start in range(0, len(stream), split):
        found += parser.feed(stream[start : start + split])
    assert found, stream
    assert found[-1].kg == pytest.approx(kg)


@PROFILE
@given(st.lists(st.binary(max_size=80), max_size=20))
def test_led_decoder_never_raises(chunks: list[bytes]) -> None:
    decoder = led.LedFrameDecoder()
    for chunk in chunks:
        decoder.feed(chunk)


# QR payloads -------------------------------------------------------------------------------------

_QR_KEYS = st.sampled_from(["VIN", "车辆识别代号", "信息公开编号", "排放阶段", "生产日期", "发动机型号", "总质量", "x"])
_qr_text = st.one_of(
    st.text(max_size=300),
    st.lists(st.tuples(_QR_KEYS, st.text(alphabet=string.printable + "国六鄂A", max_size=30)), max_size=8).map(
        lambda pairs: "随车清单|" + "|".join(f"{k}:{v}" for k, v in pairs)
    ),
    st.dictionaries(_QR_KEYS, _values, max_size=6).map(lambda d: msgspec.json.encode(d).decode()),
)


@PROFILE
@given(_qr_text)
def test_qr_payload_parser_reports_never_raises(payload: str) -> None:
    result = qr.parse_payload(payload)
    assert isinstance(result, qr.QrResult)


# Import files ------------------------------------------------------------------------------------

_XLSX = many_rows_xlsx(5, distinct=True)


def _read_or_problem(data: bytes, name: str) -> None:
    status = 200
    try:
        spreadsheets.read_table_sync(data, name)
    except ProblemError as problem:
        status = problem.status
    assert status in (200, 422)


@PROFILE
@given(st.binary(max_size=4096), st.sampled_from(["a.csv", "a.xlsx", "a"]))
def test_import_reader_random_bytes(data: bytes, name: str) -> None:
    _read_or_problem(data, name)


@PROFILE
@given(st.lists(st.lists(st.text(max_size=20), max_size=6), max_size=30))
def test_import_reader_csv_text(rows: list[list[str]]) -> None:
    text = "\n".join(",".join(cells) for rows_ in [rows] for cells in rows_)
    _read_or_problem(text.encode("utf-8"), "a.csv")


@PROFILE
@given(
    st.lists(st.tuples(st.integers(min_value=0, max_value=len(_XLSX) - 1), st.integers(0, 255)), min_size=1, max_size=8)
)
def test_import_reader_mutated_workbook(flips: list[tuple[int, int]]) -> None:
    data = bytearray(_XLSX)
    for position, value in flips:
        data[position] = value
    _read_or_problem(bytes(data), "a.xlsx")


@PROFILE
@given(st.binary(min_size=1, max_size=2000))
def test_import_reader_workbook_with_hostile_sheet_xml(sheet: bytes) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_XLSX)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            body = sheet if item.filename == "xl/worksheets/sheet1.xml" else source.read(item)
            target.writestr(item.filename, body)
    _read_or_problem(out.getvalue(), "a.xlsx")
