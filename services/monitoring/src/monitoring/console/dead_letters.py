"""The dead-letter topics' sizes the console shows, asked of the broker at most every few
seconds: a read of the console never waits on the broker but the first one.

The broker's offsets are asked through the lag probe's client, which the lag measurement holds
for up to seconds (`supplychain_kit.messaging.lag`); every console refresh (2 s, per open
page) waited behind it. The sizes change only when a record is dead-lettered and the lag next
to them is measured every `KAFKA_LAG_INTERVAL_S` (5 s): an answer that old is as fresh as the
page's other broker figures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

MAX_AGE_S = 5.0

Sizes = dict[str, int]


class DeadLetterSizes:
    """The last sizes the broker told (`ask`: None while it is not reachable). Older than
    `max_age_s`, they are asked again in the background and the read gets the last ones; only
    a read with none yet (or only None: the broker was down) waits for the answer."""

    def __init__(
        self,
        ask: Callable[[], Awaitable[Sizes | None]],
        *,
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ask = ask
        self._max_age_s = max_age_s
        self._clock = clock
        self._sizes: Sizes | None = None
        self._asked_at = -float("inf")
        self._asking: asyncio.Task[None] | None = None

    async def read(self) -> Sizes | None:
        if self._sizes is None:  # nothing to show meanwhile: wait for the broker's answer
            await self._refresh()
        elif self._clock() - self._asked_at >= self._max_age_s and self._asking is None:
            self._asking = asyncio.create_task(self._refresh())
        return self._sizes

    async def _refresh(self) -> None:
        asked_at = self._clock()
        try:
            sizes = await self._ask()
        finally:
            self._asking = None
        self._sizes, self._asked_at = sizes, asked_at
