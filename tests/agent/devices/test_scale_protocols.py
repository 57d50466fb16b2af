"""Indicator frame parsers: checksums, resync after garbage, units, flags (pure, no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.devices.scale_protocols import (
    ScaleProtocol,
    ToledoContinuousParser,
    Xk3190A9Parser,
    Xk3190A12Parser,
    encode_frame,
    encode_toledo,
    encode_xk3190_a9,
    encode_xk3190_a12,
    make_parser,
)


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_xk3190_a9_platform_notes_example() -> None:
    parser = Xk3190A9Parser()
    frames = parser.feed(b"\x02+01234001F\x03")
    assert [f.kg for f in frames] == [12340.0]
    assert encode_xk3190_a9(12340) == b"\x02+01234001F\x03"


@pytest.mark.parametrize(
    ("kg", "decimals", "unit"),
    [(0, 0, "kg"), (12340, 0, "kg"), (-350, 0, "kg"), (49_980, 2, "t"), (32_140, 3, "t"), (999_999, 0, "kg")],
)
def test_xk3190_a9_round_trip(kg: float, decimals: int, unit: str) -> None:
    parser = Xk3190A9Parser(unit)  # type: ignore[arg-type]
    frame = encode_xk3190_a9(kg, decimals=decimals, unit=unit)  # type: ignore[arg-type]
    assert len(frame) == 12
    assert [f.kg for f in parser.feed(frame)] == [kg]


def test_xk3190_a9_chunked_with_garbage_and_one_corrupt_frame() -> None:
    weights = [0, 1200, 15_300, -20, 32_140, 32_150, 32_140, 8_000, 0]
    stream = b"\xff\x00junk\x03"
    for i, kg in enumerate(weights):
        frame = encode_xk3190_a9(kg)
        stream += frame
        if i == 4:
            stream += frame[:5] + b"9" + frame[6:]  # one corrupted copy
    parser = Xk3190A9Parser()
    got = [f.kg for chunk in _chunks(stream, 5) for f in parser.feed(chunk)]
    assert got == weights
    assert parser.frames_bad == 1
    assert parser.bytes_discarded >= 7


def test_xk3190_a9_rejects_frame_without_etx_and_resyncs() -> None:
    parser = Xk3190A9Parser()
    broken = encode_xk3190_a9(5000)[:-1] + b"X"
    assert [f.kg for f in parser.feed(broken + encode_xk3190_a9(6000))] == [6000.0]


@pytest.mark.parametrize(
    ("line", "kg", "net"),
    [
        (b"ww000.000kg\r\n", 0.0, False),
        (b"ww032.140t\r\n", 32_140.0, False),
        (b"ww0032140kg\n", 32_140.0, False),
        (b"wn-00350kg\r", -350.0, True),
        (b"WW012.5T\r\n", 12_500.0, False),
    ],
)
def test_a12_lines(line: bytes, kg: float, net: bool) -> None:
    frames = Xk3190A12Parser().feed(line)
    assert [(f.kg, f.net) for f in frames] == [(kg, net)]


def test_a12_garbage_and_corrupt_lines() -> None:
    parser = Xk3190A12Parser()
    stream = b"\x00\xfe noise\r\n" + b"ww03x.140t\r\n" + b"zzww012.000t\r\n" + encode_xk3190_a12(-40)
    assert [f.kg for chunk in _chunks(stream, 3) for f in parser.feed(chunk)] == [12_000.0, -40.0]
    assert parser.frames_bad == 1
    assert parser.bytes_discarded > 0


def test_a12_encoder_uses_seven_character_field() -> None:
    assert encode_xk3190_a12(0, decimals=3, unit="kg") == b"ww000.000kg\r\n"
    assert encode_xk3190_a12(32_140, decimals=3, unit="t") == b"ww032.140t\r\n"


def test_a12_endless_line_is_bounded() -> None:
    parser = Xk3190A12Parser()
    for _ in range(100):
        parser.feed(b"x" * 50)
    assert [f.kg for f in parser.feed(b"ww000100kg\r\n")] == [100.0]


def test_toledo_round_trip_flags() -> None:
    parser = ToledoContinuousParser()
    frames = parser.feed(
        encode_toledo(32_140, motion=True) + encode_toledo(-20.5, decimals=1) + encode_toledo(5_000, net=True)
    )
    assert [(f.kg, f.indicator_stable, f.net) for f in frames] == [
        (32_140.0, False, False),
        (-20.5, True, False),
        (5_000.0, True, True),
    ]


def test_toledo_checksum_failure_is_counted_and_skipped() -> None:
    good = encode_toledo(1_000)
    bad = good[:-1] + bytes([(good[-1] + 1) & 0x7F])
    parser = ToledoContinuousParser()
    assert [f.kg for f in parser.feed(b"\x02\x02" + bad + good)] == [1_000.0]
    assert parser.frames_bad == 1


def test_toledo_without_checksum_and_in_pounds() -> None:
    frame = encode_toledo(100, checksum=False)
    assert len(frame) == 17
    assert [f.kg for f in ToledoContinuousParser(checksum=False).feed(frame)] == [100.0]
    pounds = bytearray(encode_toledo(100, checksum=False))
    pounds[2] &= ~0x10  # SWB bit 4 clear: pounds
    assert [round(f.kg, 3) for f in ToledoContinuousParser(checksum=False).feed(bytes(pounds))] == [45.359]


def test_toledo_blank_leading_digits() -> None:
    frame = bytearray(encode_toledo(1_234, checksum=False))
    frame[4:6] = b"  "
    assert [f.kg for f in ToledoContinuousParser(checksum=False).feed(bytes(frame))] == [1_234.0]


_PROTOCOLS: list[ScaleProtocol] = ["xk3190_a9", "xk3190_a12", "toledo"]


@settings(max_examples=60, deadline=None)
@given(
    protocol=st.sampled_from(_PROTOCOLS),
    weights=st.lists(st.integers(min_value=-99_999, max_value=99_999), min_size=1, max_size=8),
    garbage=st.lists(st.binary(max_size=20), min_size=1, max_size=8),
    chunk=st.integers(min_value=1, max_value=20),
)
def test_property_frames_survive_interleaved_garbage(
    protocol: ScaleProtocol, weights: list[int], garbage: list[bytes], chunk: int
) -> None:
    # garbage without frame starts or line ends, and ending in a byte that cannot glue onto a frame
    forbidden = {0x02, 0x0D, 0x0A, ord("w"), ord("W")}
    stream = b""
    for i, kg in enumerate(weights):
        junk = bytes(b for b in garbage[i % len(garbage)] if b not in forbidden)
        stream += junk + (b"\r\n" if protocol == "xk3190_a12" and junk else b"") + encode_frame(protocol, kg)
    parser = make_parser(protocol)
    got = [f.kg for part in _chunks(stream, chunk) for f in parser.feed(part)]
    assert got == [float(kg) for kg in weights]


@settings(max_examples=80, deadline=None)
@given(protocol=st.sampled_from(_PROTOCOLS), noise=st.binary(max_size=2000))
def test_property_arbitrary_bytes_never_raise(protocol: ScaleProtocol, noise: bytes) -> None:
    parser = make_parser(protocol)
    parser.feed(noise)
    frames = parser.feed(b"\r\n" + encode_frame(protocol, 4_200))
    assert frames
    assert frames[-1].kg == 4_200.0
