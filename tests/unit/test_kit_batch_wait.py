"""A batch subscriber waits for records in its fetch only: records are handed over as they
come, an empty fetch is followed by the next one at once, and an empty answer that came
early never makes a busy loop. aiokafka's consumer is faked (pure logic)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from supplychain_kit.messaging.batch_wait import wait_in_fetch


class Subscriber:
    """What wait_in_fetch uses of FastStream's batch subscriber."""

    max_records = 50

    async def get_msg(self, consumer: Any) -> tuple[Any, ...]:
        raise AssertionError("replaced")


class Consumer:
    def __init__(self, answers: list[dict[str, list[int]]], *, waits: bool) -> None:
        self.answers = answers
        self.waits = waits  # an empty answer after the whole timeout, or at once
        self.asked: list[tuple[int, int]] = []

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[str, list[int]]:
        self.asked.append((timeout_ms, max_records))
        answer = self.answers.pop(0)
        if not answer and self.waits:
            await asyncio.sleep(timeout_ms / 1000)
        return answer


async def test_records_are_handed_over_and_an_empty_fetch_is_not_followed_by_a_sleep() -> None:
    subscriber = Subscriber()
    assert wait_in_fetch(subscriber, wait_ms=100)
    consumer = Consumer([{"a": [1, 2], "b": [3]}, {}], waits=True)
    assert await subscriber.get_msg(consumer) == (1, 2, 3)
    started = time.monotonic()
    assert await subscriber.get_msg(consumer) == ()
    took = time.monotonic() - started
    assert 0.09 <= took < 0.18, took  # the fetch's own wait, no second one after it
    assert consumer.asked == [(100, 50), (100, 50)]


async def test_an_empty_answer_that_came_early_waits_out_the_rest() -> None:
    subscriber = Subscriber()
    assert wait_in_fetch(subscriber, wait_ms=100)
    consumer = Consumer([{}], waits=False)  # e.g. no partition assigned
    started = time.monotonic()
    assert await subscriber.get_msg(consumer) == ()
    assert time.monotonic() - started >= 0.09


def test_an_object_that_is_no_batch_subscriber_is_left_as_it_is() -> None:
    assert not wait_in_fetch(object())
