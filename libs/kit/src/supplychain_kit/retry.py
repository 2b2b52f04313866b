"""Retrying with backoff: the delays of a loop that waits for the broker or the database.

`Backoff` is the pure part (the next delay: doubling from `first_s` up to `cap_s`, spread by
`jitter` when replicas must not retry in step); `keep_trying` runs an attempt until it
succeeds, sleeping a delay after each failure. The sleep is injected, so the delays are
tested without waiting.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Backoff:
    """The delays after consecutive failures: `first_s`, then doubling, never above `cap_s`;
    each spread by up to ±`jitter` of itself (0: exactly these). `reset()` after a success."""

    first_s: float
    cap_s: float
    jitter: float = 0.0
    uniform: Callable[[float, float], float] = field(default=random.uniform, repr=False)
    _next_s: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.cap_s:
            raise ValueError("backoff needs 0 < first_s <= cap_s")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter is a fraction of the delay, below 1")
        self._next_s = self.first_s

    def next_delay(self) -> float:
        """The delay to wait now; the one after doubles (up to the cap)."""
        delay = self._next_s
        self._next_s = min(self._next_s * 2, self.cap_s)
        if self.jitter:
            delay *= 1 + self.uniform(-self.jitter, self.jitter)
        return delay

    def reset(self) -> None:
        self._next_s = self.first_s


async def keep_trying(
    attempt: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    on_failure: Callable[[Exception, float], Awaitable[None]],
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Await `attempt` until it returns; after each failure, `on_failure(error, delay)`
    (log it, clean up the half-started clients) and sleep the backoff's next delay."""
    while True:
        try:
            return await attempt()
        except Exception as exc:
            delay = backoff.next_delay()
            await on_failure(exc, delay)
            await sleep(delay)
