"""How a batch subscriber waits for records: in the fetch, never in a sleep after it.

FastStream's batch subscriber asks aiokafka for records with its batch timeout and, when none
came, sleeps that timeout again before asking anew. A record arriving during that sleep waits
for it (up to the timeout on every hop), and an idle consumer wakes twice per timeout. aiokafka
answers `getmany` as soon as any record is fetched, so a long timeout costs no latency; this
replaces the subscriber's fetch with one that only waits in `getmany`, for BATCH_WAIT_MS.

FastStream has no setting for it: the subscriber's `get_msg` is replaced on the instance
(checked at registration: without it the subscriber keeps its own).
"""

from __future__ import annotations

import asyncio
import time
from itertools import chain
from typing import Any

BATCH_WAIT_MS = 1000  # one wake-up per second of an idle consumer


def wait_in_fetch(subscriber: Any, *, wait_ms: int = BATCH_WAIT_MS) -> bool:
    """Make `subscriber` (a FastStream Kafka batch subscriber) wait `wait_ms` in each fetch
    and not after it; False when it is not one (left as it is)."""
    if not all(hasattr(subscriber, name) for name in ("get_msg", "max_records")):
        return False
    max_records = subscriber.max_records

    async def get_batch(consumer: Any) -> tuple[Any, ...]:
        started = time.monotonic()
        fetched = await consumer.getmany(timeout_ms=wait_ms, max_records=max_records)
        if fetched:
            return tuple(chain.from_iterable(fetched.values()))
        # never a busy loop: an empty answer sooner than the wait waits out the rest
        rest = wait_ms / 1000 - (time.monotonic() - started)
        if rest > 0:
            await asyncio.sleep(rest)
        return ()

    subscriber.get_msg = get_batch
    return True
