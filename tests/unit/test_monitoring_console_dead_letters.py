"""The console's dead-letter sizes: asked of the broker at most every few seconds, in the
background once they are old, so a refresh of the page never waits on the broker but the
first."""

from __future__ import annotations

import asyncio

from monitoring.console.dead_letters import DeadLetterSizes


class Broker:
    """Answers each ask with the next of `answers` once `release` is set."""

    def __init__(self, *answers: dict[str, int] | None) -> None:
        self.answers = list(answers)
        self.asked = 0
        self.release = asyncio.Event()
        self.release.set()

    async def sizes(self) -> dict[str, int] | None:
        self.asked += 1
        await self.release.wait()
        return self.answers.pop(0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def settled() -> None:
    """Let the background ask run to its end."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_old_sizes_are_shown_while_the_broker_is_asked_again() -> None:
    broker, clock = Broker({"a.dlq": 1}, {"a.dlq": 2}), Clock()
    sizes = DeadLetterSizes(broker.sizes, max_age_s=5, clock=clock)

    assert await sizes.read() == {"a.dlq": 1}  # the first read waits for the answer
    clock.now += 4.9
    assert await sizes.read() == {"a.dlq": 1}
    assert broker.asked == 1  # young enough: not asked again

    clock.now += 0.1
    broker.release.clear()  # the broker is slow to answer
    assert await sizes.read() == {"a.dlq": 1}  # the read does not wait for it
    await settled()
    assert await sizes.read() == {"a.dlq": 1}
    assert broker.asked == 2  # one ask in flight, whatever the reads meanwhile
    broker.release.set()
    await settled()
    assert await sizes.read() == {"a.dlq": 2}
    assert broker.asked == 2


async def test_a_broker_not_reachable_is_asked_at_every_read() -> None:
    broker = Broker(None, None, {"a.dlq": 0})
    sizes = DeadLetterSizes(broker.sizes, max_age_s=5, clock=Clock())

    assert await sizes.read() is None
    assert await sizes.read() is None
    assert await sizes.read() == {"a.dlq": 0}  # reachable again: shown at once
    assert broker.asked == 3
