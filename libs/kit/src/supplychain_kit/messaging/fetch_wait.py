"""How long a consumer's fetches wait at the broker: short while records flow, long once idle.

A fetch that finds no record waits at the broker for at most `fetch_max_wait_ms`. Kafka answers
it as soon as a record arrives, so a long wait costs nothing there; Tansu (the embedded broker)
answers a waiting fetch at a point of its wait (about half of it), so its consumers must
fetch often while records flow — and then spend an idle machine's CPU on empty fetches (the
broker answering them, every service sending them). This keeps the short wait while records
came within `idle_after_s`, and the long one after: the first record after a quiet spell waits
at most the long wait, the ones behind it the short one.

aiokafka has no setter for the wait; its fetcher reads `_fetch_max_wait_ms` at each fetch
request, so it is changed there (checked at start: without it the wait stays as configured).
With it goes the fetch loop's own re-check while a fetch is out (`_fetcher_timeout`, 0.2 s):
a fetch's answer, a consumed batch or a new assignment wake the loop anyway, so it waits as
long as the fetch may.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

FETCHER_TIMEOUT_S = 0.2  # aiokafka's default re-check of its fetch loop
STARTED_CHECK_S = 0.5


class HasConsumer(Protocol):
    """A FastStream Kafka subscriber: its aiokafka consumer once started."""

    consumer: Any


@dataclass(frozen=True)
class FetchWaits:
    busy_ms: int  # while records flow
    idle_ms: int  # after `idle_after_s` without a record
    idle_after_s: float

    @property
    def adaptive(self) -> bool:
        return self.idle_ms > self.busy_ms


class AdaptiveFetchWait:
    """The wait of one subscriber's fetches: `arrived()` at each batch, `run()` as a task."""

    def __init__(self, subscriber: HasConsumer, waits: FetchWaits) -> None:
        self._subscriber = subscriber
        self._waits = waits
        self._last_records = time.monotonic()
        self._idle = False
        self._woken = asyncio.Event()

    def arrived(self) -> None:
        """Records came: fetch with the short wait from the next request on."""
        self._last_records = time.monotonic()
        if self._idle:
            self._idle = False
            self._set(self._waits.busy_ms)
            self._woken.set()

    async def run(self) -> None:
        """Switch to the long wait after `idle_after_s` without records (one wakeup per
        quiet spell, one per `idle_after_s` while busy)."""
        while True:  # until FastStream started the consumer (nothing signals it)
            if getattr(self._subscriber.consumer, "_fetcher", None) is not None:
                break
            await asyncio.sleep(STARTED_CHECK_S)
        if not self._set(self._waits.busy_ms):
            log.warning("the consumer's fetch wait cannot be changed: it stays as configured")
            return
        if not self._waits.adaptive:
            return
        while True:
            if self._idle:
                await self._woken.wait()
                self._woken.clear()
                continue
            quiet = time.monotonic() - self._last_records
            if quiet < self._waits.idle_after_s:
                await asyncio.sleep(self._waits.idle_after_s - quiet)
            else:  # (started above: the fetcher takes it)
                self._set(self._waits.idle_ms)
                self._idle = True

    def _set(self, wait_ms: int) -> bool:
        """Whether the running consumer's fetcher took the wait (False before it started)."""
        fetcher = getattr(self._subscriber.consumer, "_fetcher", None)
        if fetcher is None or not hasattr(fetcher, "_fetch_max_wait_ms"):
            return False
        fetcher._fetch_max_wait_ms = wait_ms
        if hasattr(fetcher, "_fetcher_timeout"):
            fetcher._fetcher_timeout = max(FETCHER_TIMEOUT_S, wait_ms / 1000)
        return True
