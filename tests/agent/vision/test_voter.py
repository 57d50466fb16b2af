"""Voting across frames, duplicate suppression and review marks."""

from __future__ import annotations

from agent.vision import PlateRead, PlateVoter
from agent.vision.voter import vote


def _read(plate: str, conf: float = 0.95, box: tuple[int, int, int, int] = (100, 100, 200, 140)) -> PlateRead:
    return PlateRead(plate=plate, colour="blue", confidence=conf, box=box, char_confidences=(conf,) * len(plate))


def test_vote_per_character_fixes_single_frame_errors() -> None:
    reads = [_read("鄂A12345"), _read("鄂A12845", 0.7), _read("鄂A1Z345", 0.6), _read("鄂A12345")]
    plate, colour, confidence, chars = vote(reads)
    assert plate == "鄂A12345"
    assert colour == "blue"
    assert 0.5 < confidence <= 1
    assert len(chars) == 7


def test_one_passage_per_vehicle_and_duplicates_suppressed() -> None:
    voter = PlateVoter(track_gap_s=1.0, duplicate_window_s=30.0)
    out = []
    for i in range(10):
        out += voter.feed([_read("鄂A12345" if i != 4 else "鄂A12346", 0.9)], ts=i * 0.1, lane="in-1")
    out += voter.feed([], ts=3.0, lane="in-1")
    assert [p.plate for p in out] == ["鄂A12345"]
    assert out[0].reads == 10
    assert out[0].alternatives == (("鄂A12346", 1),)
    assert out[0].lane == "in-1"
    assert not out[0].needs_review
    # The same truck seen again 10 s later on the same lane: suppressed; on another lane: emitted.
    for i in range(5):
        voter.feed([_read("鄂A12345")], ts=13.0 + i * 0.1, lane="in-1")
        voter.feed([_read("鄂A12345")], ts=13.0 + i * 0.1, lane="out-1")
    later = voter.flush()
    assert [(p.plate, p.lane) for p in later] == [("鄂A12345", "out-1")]


def test_two_vehicles_and_low_confidence_review() -> None:
    voter = PlateVoter(track_gap_s=0.5, review_threshold=0.85, min_reads=2)
    voter.feed([_read("鄂A12345"), _read("湘B88888", box=(600, 100, 700, 140))], ts=0.0, lane="l")
    voter.feed([_read("鄂A12345"), _read("湘B88888", box=(600, 100, 700, 140))], ts=0.2, lane="l")
    out = voter.feed([_read("粤C55555", 0.6)], ts=5.0, lane="l")  # ends the first two tracks
    assert sorted(p.plate for p in out) == ["湘B88888", "鄂A12345"]
    out += voter.flush()
    assert sorted(p.plate for p in out) == ["湘B88888", "粤C55555", "鄂A12345"]
    weak = next(p for p in out if p.plate == "粤C55555")
    assert weak.needs_review  # one read at 0.6


def test_max_track_length_cuts_a_track() -> None:
    voter = PlateVoter(track_gap_s=1.0, max_track_s=2.0, duplicate_window_s=0.0)
    out = []
    for i in range(40):
        out += voter.feed([_read("鄂A12345")], ts=i * 0.1, lane="l")
    assert out, "a track longer than max_track_s is emitted"


def _sharp(plate: str, conf: float = 0.99, box: tuple[int, int, int, int] = (100, 100, 200, 140)) -> PlateRead:
    return PlateRead(plate=plate, colour="blue", confidence=conf, box=box, char_confidences=(conf,) * len(plate))


def test_early_emission_on_two_confident_agreeing_reads_then_absorbs_the_track() -> None:
    voter = PlateVoter(early=True, track_gap_s=1.0, duplicate_window_s=30.0)
    assert voter.feed([_sharp("鄂A12345")], ts=0.0, lane="l") == []  # one read is not enough
    out = voter.feed([_sharp("鄂A12345")], ts=0.1, lane="l")
    assert [(p.plate, p.early, p.reads, p.first_ts, p.last_ts) for p in out] == [("鄂A12345", True, 2, 0.0, 0.1)]
    assert not out[0].needs_review
    # The truck stays in view (even misread once): nothing more, also when the track ends.
    later = []
    for i in range(2, 40):
        later += voter.feed([_sharp("鄂A12346" if i == 7 else "鄂A12345")], ts=i * 0.1, lane="l")
    later += voter.feed([], ts=10.0, lane="l")
    later += voter.flush()
    assert later == []
    # Seen again within the duplicate window (counted from the track's last read): suppressed.
    again = voter.feed([_sharp("鄂A12345")], ts=25.0, lane="l")
    again += voter.feed([_sharp("鄂A12345")], ts=25.1, lane="l")
    assert again == []


def test_early_emission_waits_for_agreement_and_confidence() -> None:
    voter = PlateVoter(early=True, track_gap_s=1.0)
    # Confident reads that disagree: no early emission; the end-of-track vote decides.
    assert voter.feed([_sharp("鄂A12345")], ts=0.0, lane="l") == []
    assert voter.feed([_sharp("鄂A12845")], ts=0.1, lane="l") == []
    assert voter.feed([_sharp("鄂A12345")], ts=0.2, lane="l") == []
    end = voter.feed([], ts=5.0, lane="l")
    assert [(p.plate, p.early) for p in end] == [("鄂A12345", False)]
    # Weak reads never emit early; the track is emitted at its end, marked for review.
    weak = PlateVoter(early=True, track_gap_s=1.0)
    for i in range(10):
        assert weak.feed([_read("粤C55555", 0.7)], ts=i * 0.1, lane="l") == []
    tail = weak.flush()
    assert [(p.plate, p.early, p.needs_review) for p in tail] == [("粤C55555", False, True)]
    # Grammar-invalid consensus never emits early.
    bad = PlateVoter(early=True)
    assert bad.feed([_sharp("XX12345")], ts=0.0) + bad.feed([_sharp("XX12345")], ts=0.1) == []


def test_early_single_read_only_when_set_and_very_confident() -> None:
    voter = PlateVoter(early=True, early_single=0.995)
    assert voter.feed([_sharp("鄂A12345", 0.99)], ts=0.0) == []
    out = voter.feed([_sharp("鄂B54321", 0.999, box=(500, 100, 600, 140))], ts=0.0)
    assert [(p.plate, p.reads, p.early) for p in out] == [("鄂B54321", 1, True)]


def test_early_off_keeps_whole_track_votes() -> None:
    voter = PlateVoter(track_gap_s=1.0)
    out = []
    for i in range(5):
        out += voter.feed([_sharp("鄂A12345")], ts=i * 0.1)
    assert out == []
    assert [(p.reads, p.early) for p in voter.flush()] == [(5, False)]


def test_early_bar_two_reads_at_the_default_minimum_suffice_but_not_below_it() -> None:
    """Default bar (bench/early_vote.py): every character ≥ 0.9 in both reads, combined ≥ 0.99."""
    voter = PlateVoter(early=True)
    assert voter.feed([_sharp("鄂A12345", 0.9)], ts=0.0) == []
    assert [p.plate for p in voter.feed([_sharp("鄂A12345", 0.9)], ts=0.04)] == ["鄂A12345"]
    weak = PlateVoter(early=True)
    assert weak.feed([_sharp("鄂A12345", 0.89)], ts=0.0) == []
    assert weak.feed([_sharp("鄂A12345", 0.89)], ts=0.04) == []  # below early_read_min: waits for the track
