"""The kit's one backoff: its delays, its cap, its jitter and the loop that sleeps them."""

from __future__ import annotations

import pytest
from supplychain_kit.retry import Backoff, keep_trying


def test_delays_double_from_the_first_up_to_the_cap_and_start_over_after_a_reset() -> None:
    backoff = Backoff(first_s=0.5, cap_s=5.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_jitter_spreads_each_delay_by_at_most_its_fraction() -> None:
    drawn: list[tuple[float, float]] = []

    def highest(low: float, high: float) -> float:
        drawn.append((low, high))
        return high

    backoff = Backoff(first_s=1.0, cap_s=2.0, jitter=0.25, uniform=highest)
    assert [backoff.next_delay() for _ in range(3)] == [1.25, 2.5, 2.5]
    assert drawn == [(-0.25, 0.25)] * 3


@pytest.mark.parametrize(("first_s", "cap_s", "jitter"), [(0, 1, 0), (2, 1, 0), (1, 2, 1)])
def test_a_backoff_that_could_spin_or_go_negative_is_refused(
    first_s: float, cap_s: float, jitter: float
) -> None:
    with pytest.raises(ValueError):
        Backoff(first_s=first_s, cap_s=cap_s, jitter=jitter)


async def test_keep_trying_sleeps_each_delay_after_a_failure_until_the_attempt_succeeds() -> None:
    outcomes: list[Exception | str] = [OSError("down"), TimeoutError(), OSError("down"), "up"]
    failures: list[tuple[str, float]] = []
    slept: list[float] = []

    async def attempt() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def on_failure(exc: Exception, delay: float) -> None:
        failures.append((type(exc).__name__, delay))

    async def sleep(delay: float) -> None:
        slept.append(delay)

    result = await keep_trying(
        attempt, backoff=Backoff(first_s=0.5, cap_s=1.5), on_failure=on_failure, sleep=sleep
    )
    assert result == "up"
    assert failures == [("OSError", 0.5), ("TimeoutError", 1.0), ("OSError", 1.5)]
    assert slept == [0.5, 1.0, 1.5]
