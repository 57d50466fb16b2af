"""The shared backoff: full jitter, retry-after floors, reset only after a healthy session."""

from __future__ import annotations

import random

from agent_protocol import messages as msg
from agent_protocol.backoff import Backoff, attempt_delay, delays


def test_full_jitter_stays_under_a_growing_cap() -> None:
    rng = random.Random(1)
    for attempts, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (8, 60.0), (30, 60.0)]:
        values = [attempt_delay(attempts, rng=rng) for _ in range(300)]
        assert all(0.0 <= v <= cap for v in values)
        assert max(values) > cap * 0.8  # spread over the whole window, not bunched
        assert min(values) < cap * 0.2


def test_no_jitter_is_the_cap() -> None:
    assert [attempt_delay(n, initial_s=0.2, max_s=5.0, jitter=0.0) for n in (1, 2, 3, 10)] == [0.2, 0.4, 0.8, 5.0]


def test_retry_after_is_a_floor() -> None:
    rng = random.Random(2)
    values = [attempt_delay(1, floor_s=5.0, rng=rng) for _ in range(200)]
    assert all(5.0 <= v <= 10.0 for v in values)
    back = Backoff(rng=rng)
    assert 5.0 <= back.next_delay(floor_s=5.0) <= 10.0
    assert all(back.next_delay(floor_s=5.0) >= 5.0 for _ in range(20))  # a floor, the growth goes on above it


def test_reset_only_after_a_healthy_session() -> None:
    now = [0.0]
    back = Backoff(initial_s=1.0, max_s=60.0, healthy_after_s=30.0, clock=lambda: now[0], jitter=0.0)
    assert back.next_delay() == 1.0
    for _ in range(5):  # accepted and closed at once: the growth goes on
        back.started()
        now[0] += 0.1
        back.ended()
        back.next_delay()
    assert back.failures == 6
    assert back.next_delay() == 60.0
    back.started()
    now[0] += 31.0
    assert back.healthy
    back.ended()
    assert back.next_delay() == 1.0


def test_schedule_override_and_generator_form() -> None:
    back = Backoff(schedule=lambda: iter([0.1, 0.2, 0.3]))  # type: ignore[arg-type,return-value]
    assert [back.next_delay() for _ in range(3)] == [0.1, 0.2, 0.3]
    gen = delays(initial_s=0.5, max_s=2.0, rng=random.Random(3))
    assert all(0.0 <= next(gen) <= 2.0 for _ in range(50))


def test_try_later_close_reason_round_trip() -> None:
    reason = msg.try_later_reason(5, "云端数据库暂不可用，请稍后重试")
    assert reason.startswith("retry-after=5; ")
    assert len(reason.encode()) <= 120
    assert msg.retry_after(reason) == 5.0
    assert msg.retry_after("云端数据库暂不可用") is None
    assert msg.retry_after("retry-after=abc; x") is None
    assert msg.retry_after("retry-after=99999") is None
