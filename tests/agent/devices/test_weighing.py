"""Pairing entry and exit weighings into gross/tare/net trips (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.devices.types import StableWeight
from agent.devices.weighing import (
    FLAG_TEXT,
    PassWeighing,
    TripKind,
    TripWeighingPairer,
    pair_weighings,
    pick_stable_for_pass,
)

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def _w(
    direction: str, kg: float, minutes: float = 0, cargo: str | None = None, plate: str = "鄂A12345"
) -> PassWeighing:
    return PassWeighing(
        event_id=f"{direction}-{minutes}",
        plate=plate,
        direction=direction,  # type: ignore[arg-type]
        kg=kg,
        at=T0 + timedelta(minutes=minutes),
        cargo=cargo,
    )


def test_delivery_gross_on_entry() -> None:
    trip = pair_weighings(_w("in", 49_000, 0, "煤炭"), _w("out", 15_200, 40))
    assert trip.kind is TripKind.DELIVERY
    assert (trip.gross_kg, trip.tare_kg, trip.net_kg) == (49_000, 15_200, 33_800)
    assert trip.cargo == "煤炭"
    assert trip.net_tonnes == 33.8
    assert trip.gross_at == T0
    assert trip.flags == ()


def test_pickup_gross_on_exit_uses_exit_cargo() -> None:
    trip = pair_weighings(_w("in", 15_000, 0, "空车"), _w("out", 45_500, 30, "水泥熟料"))
    assert trip.kind is TripKind.PICKUP
    assert (trip.gross_kg, trip.tare_kg, trip.net_kg) == (45_500, 15_000, 30_500)
    assert trip.cargo == "水泥熟料"
    assert trip.tare_at == T0


def test_empty_run() -> None:
    trip = pair_weighings(_w("in", 15_000, 0, "煤炭"), _w("out", 15_080, 10))
    assert trip.kind is TripKind.EMPTY
    assert trip.cargo is None
    assert trip.flags == ()


def test_flags() -> None:
    no_cargo = pair_weighings(_w("in", 40_000), _w("out", 15_000, 20))
    backwards = pair_weighings(_w("in", 40_000, 60, "砂石"), _w("out", 15_000, 0))
    too_long = pair_weighings(_w("in", 40_000, 0, "砂石"), _w("out", 15_000, 60 * 30))
    tare = pair_weighings(_w("in", 40_000, 0, "砂石"), _w("out", 15_000, 20), known_tare_kg=14_000)
    assert no_cargo.flags == ("cargo_missing",)
    assert backwards.flags == ("exit_before_entry",)
    assert too_long.flags == ("trip_too_long",)
    assert tare.flags == ("tare_mismatch",)
    assert all(flag in FLAG_TEXT for t in (no_cargo, backwards, too_long, tare) for flag in t.flags)


def test_pairer_matches_canonical_plates() -> None:
    pairer = TripWeighingPairer()
    assert pairer.record(_w("in", 48_000, 0, "煤炭", plate="鄂A·12345")) is None
    assert pairer.record(_w("in", 16_000, 1, "钢材", plate="鄂B54321")) is None
    trip = pairer.record(_w("out", 15_000, 30, plate="鄂a 12345"))
    assert trip is not None
    assert trip.plate == "鄂A12345"
    assert trip.net_kg == 33_000
    assert [w.plate for w in pairer.open_entries] == ["鄂B54321"]


def test_exit_without_entry_and_replaced_entry() -> None:
    pairer = TripWeighingPairer()
    assert pairer.record_exit(_w("out", 15_000)) is None
    first = _w("in", 40_000, 0)
    assert pairer.record_entry(first) is None
    assert pairer.record_entry(_w("in", 41_000, 5)) == first


def test_expire_open_entries() -> None:
    pairer = TripWeighingPairer(max_trip=timedelta(hours=2))
    pairer.record_entry(_w("in", 40_000, 0))
    pairer.record_entry(_w("in", 40_000, 100, plate="鄂B54321"))
    stale = pairer.expire(T0 + timedelta(minutes=150))
    assert [w.plate for w in stale] == ["鄂A12345"]
    assert len(pairer.open_entries) == 1


def _stable(kg: float, seconds: float) -> StableWeight:
    return StableWeight(
        kg=kg, min_kg=kg, max_kg=kg, readings=10, started=0, monotonic=0, at=T0 + timedelta(seconds=seconds)
    )


def test_pick_stable_for_pass_prefers_full_load_in_window() -> None:
    stables = [_stable(30_000, -600), _stable(12_000, -40), _stable(41_000, -20), _stable(9_000, 200)]
    assert pick_stable_for_pass(stables, T0) == stables[2]
    assert pick_stable_for_pass(stables, T0 + timedelta(hours=1)) is None
