"""The SLA grace window and the race between a clock and a stage's end event, on the real
PostgreSQL, through monitoring's public effects: the consumer's event applier and the clock
job's `fire_due_clocks`.

Since issue 22 a breach waits until monitoring knows the topics that could end the stage
MONITORING_SLA_VERDICT_RELAY_GRACE_SECONDS past the deadline (the watermark sampler's
`known_until`), not until the wall clock passes it: each tick here first says the consumer has
read everything up to the tick (`caught_up`), which is what the old wall-clock grace assumed.
The verdicts are the same; holding them while monitoring is behind is tested in
test_monitoring_verdict_watermarks.py.

- An end event that happened before the deadline but is applied after it, within the relay
  grace, does not breach; one applied after the grace breaches, once.
- An end event that happened after the deadline breaches once, whoever sees it first.
- A clock firing while the end event's transaction runs: one outcome, one breach at most,
  the same in the stage row, the outbox and what the sink counted.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
from monitoring.config import MonitoringSettings
from monitoring.reference.commands import load_owned_reference
from monitoring.reference.company import owned_reference
from monitoring.sla.watermarks import VerdictRule
from monitoring.timeline.clocks import fire_due_clocks
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Emitting
from supplychain_contracts import OrderAccepted, OrderPlaced, SlaBreached, follow_up
from supplychain_contracts.envelope import Event
from supplychain_contracts.events import SlaClockEvent
from supplychain_kit.messaging.effects import after_commit
from support.service import ServicePool, apply_events, consumer_transaction, outbox_events
from support.verdicts import caught_up, wheels_order

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning: business hours
GRACE = timedelta(seconds=5)
RULE = VerdictRule(relay_grace=GRACE, max_lateness=timedelta(hours=1))
ACCEPTANCE = "acceptance"


class Counting(Emitting):
    """The live sink, also noting the breaches of each committed transaction; `gate` (when
    set) holds the raising transaction open until the test opens it."""

    def __init__(self) -> None:
        super().__init__()
        self.breaches: list[uuid.UUID] = []  # orders whose acceptance breached
        self.gate: asyncio.Event | None = None
        self.holding = asyncio.Event()

    async def alarms_raised(
        self, conn: asyncpg.Connection, events: Sequence[SlaClockEvent]
    ) -> None:
        await super().alarms_raised(conn, events)
        raised = [
            e.order_id for e in events if isinstance(e, SlaBreached) and e.stage.value == ACCEPTANCE
        ]
        after_commit(lambda: self.breaches.extend(raised))
        if self.gate is not None:
            self.holding.set()
            await self.gate.wait()


async def _monitoring(service_pool: ServicePool) -> asyncpg.Pool:
    pool = await service_pool("monitoring")
    async with pool.acquire() as conn:
        await load_owned_reference(conn, owned_reference(MonitoringSettings(), at=T0), now=T0)
    return pool


async def _apply(pool: asyncpg.Pool, sink: Counting, event: Event) -> None:
    await apply_events(pool, event_applier(sink), event)


async def _placed(pool: asyncpg.Pool, sink: Counting) -> tuple[OrderPlaced, datetime]:
    """An order placed at T0 and its acceptance deadline."""
    placed = wheels_order(T0)
    order_id = placed.order_id
    await _apply(pool, sink, placed)
    async with pool.acquire() as conn:
        deadline = await conn.fetchval(
            "SELECT deadline FROM stages WHERE order_id = $1 AND stage = $2", order_id, ACCEPTANCE
        )
    assert deadline is not None and deadline > T0, "WHEELS has no acceptance target"
    return placed, deadline


def _accepted(placed: OrderPlaced, at: datetime) -> OrderAccepted:
    return follow_up(placed, OrderAccepted, producer="fulfilment", occurred_at=at)


async def _acceptance_breaches(pool: asyncpg.Pool, order_id: uuid.UUID) -> int:
    """SlaBreached of the order's acceptance in the outbox (which ignores a repeated id)."""
    async with pool.acquire() as conn:
        events = await outbox_events(conn)
    return sum(
        1
        for e in events
        if isinstance(e, SlaBreached) and e.order_id == order_id and e.stage.value == ACCEPTANCE
    )


async def _stage(pool: asyncpg.Pool, order_id: uuid.UUID) -> asyncpg.Record:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT ended_at, duration_s, breach_raised_at FROM stages "
            "WHERE order_id = $1 AND stage = $2",
            order_id,
            ACCEPTANCE,
        )
    assert row is not None
    return row


async def _tick(pool: asyncpg.Pool, sink: Counting, now: datetime) -> None:
    """The clock scan at `now`, monitoring having read every topic up to `now`."""
    await caught_up(pool, until=now)
    await fire_due_clocks(pool, sink, now=now, rule=RULE)


async def test_an_end_in_time_arriving_within_the_grace_does_not_breach(
    service_pool: ServicePool,
) -> None:
    pool = await _monitoring(service_pool)
    sink = Counting()
    placed, deadline = await _placed(pool, sink)
    # the clock ticks after the deadline, inside the grace: the end may be on its way
    await _tick(pool, sink, deadline + GRACE / 2)
    assert sink.breaches == []
    # it was: it happened a second before the deadline and arrives now
    await _apply(pool, sink, _accepted(placed, deadline - timedelta(seconds=1)))
    await _tick(pool, sink, deadline + GRACE * 10)
    assert sink.breaches == []
    assert await _acceptance_breaches(pool, placed.order_id) == 0
    stage = await _stage(pool, placed.order_id)
    assert stage["breach_raised_at"] is None and stage["duration_s"] is not None


async def test_an_end_arriving_after_the_grace_or_late_itself_breaches_exactly_once(
    service_pool: ServicePool,
) -> None:
    pool = await _monitoring(service_pool)
    sink = Counting()
    # in time, but arriving after the grace: the clock has declared the breach, which stands
    in_time, deadline = await _placed(pool, sink)
    await _tick(pool, sink, deadline + GRACE * 2)
    await _apply(pool, sink, _accepted(in_time, deadline - timedelta(seconds=1)))
    await _tick(pool, sink, deadline + GRACE * 10)
    # late itself, arriving before any clock ticked past the deadline: the end raises it
    late, late_deadline = await _placed(pool, sink)
    await _apply(pool, sink, _accepted(late, late_deadline + timedelta(seconds=1)))
    await _tick(pool, sink, late_deadline + GRACE * 10)

    assert sorted(sink.breaches) == sorted([in_time.order_id, late.order_id])
    for order in (in_time, late):
        assert await _acceptance_breaches(pool, order.order_id) == 1
        stage = await _stage(pool, order.order_id)
        assert stage["breach_raised_at"] is not None and stage["duration_s"] is not None


async def _waiting_on_a_lock(pool: asyncpg.Pool, timeout: float = 10) -> None:
    """Until a backend of this database waits on a row lock (the end event's upsert)."""
    deadline = time.monotonic() + timeout
    async with pool.acquire() as conn:
        while not await conn.fetchval(
            """SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock'"""
        ):
            if time.monotonic() > deadline:
                raise AssertionError("the end event never waited for the clock's transaction")
            await asyncio.sleep(0.02)


async def test_a_clock_firing_while_the_end_event_is_applied_gives_one_outcome(
    service_pool: ServicePool,
) -> None:
    """The clock's transaction holds the stage (breach raised, not committed) when a late end
    event arrives: the event waits for it, sees the breach and does not raise another. And
    the other way round: an end event's transaction holds the stage, the clock leaves it, and
    the end (in time) closes it without a breach."""
    pool = await _monitoring(service_pool)
    sink = Counting()

    # the clock first
    placed, deadline = await _placed(pool, sink)
    sink.gate = asyncio.Event()
    clock = asyncio.create_task(_tick(pool, sink, deadline + GRACE * 2))
    await asyncio.wait_for(sink.holding.wait(), timeout=10)
    end = asyncio.create_task(
        _apply(pool, sink, _accepted(placed, deadline + timedelta(seconds=1)))
    )
    await _waiting_on_a_lock(pool)
    sink.gate.set()
    await asyncio.wait_for(asyncio.gather(clock, end), timeout=10)
    sink.gate = None
    assert sink.breaches.count(placed.order_id) == 1
    assert await _acceptance_breaches(pool, placed.order_id) == 1
    stage = await _stage(pool, placed.order_id)
    assert stage["breach_raised_at"] is not None and stage["duration_s"] is not None

    # the end event first, in time, its transaction still open when the clock ticks past the
    # grace
    other, other_deadline = await _placed(pool, sink)
    apply = event_applier(sink)
    async with consumer_transaction(pool) as conn:
        await apply(conn, _accepted(other, other_deadline - timedelta(seconds=1)))
        await asyncio.wait_for(_tick(pool, sink, other_deadline + GRACE * 2), timeout=5)
    await _tick(pool, sink, other_deadline + GRACE * 10)
    assert other.order_id not in sink.breaches
    assert await _acceptance_breaches(pool, other.order_id) == 0
    stage = await _stage(pool, other.order_id)
    assert stage["breach_raised_at"] is None and stage["duration_s"] is not None
