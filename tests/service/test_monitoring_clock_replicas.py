"""The SLA clock job run by several replicas at once, on the real PostgreSQL.

Alarm event ids are deterministic and the outbox ignores a repeated id, so the outbox alone
would look right even if two replicas fired the same alarm. These tests count what each
runner fired (returned and handed to its sink, once committed): every due alarm exactly once
in all, and a stage another transaction holds is skipped, not waited for (SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
from monitoring.config import MonitoringSettings
from monitoring.reference.commands import load_owned_reference
from monitoring.reference.company import owned_reference
from monitoring.sla.rules import StageRow
from monitoring.timeline.clocks import fire_due_clocks
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Emitting
from supplychain_contracts import SlaBreached, SlaWarning
from supplychain_contracts.events import SlaClockEvent
from supplychain_kit.messaging.effects import after_commit
from support.service import ServicePool, apply_events, outbox_events
from support.verdicts import NO_GRACE, caught_up, wheels_order

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATE = T0 + timedelta(hours=1)  # every clock of an order placed at T0 is due: 4 alarms each
ORDERS = 40
RUNNERS = 4


class Recording:
    """The live sink, also noting the alarm events of each committed transaction."""

    def __init__(self) -> None:
        self.fired: list[uuid.UUID] = []
        self._live = Emitting()

    async def alarms_raised(
        self, conn: asyncpg.Connection, events: Sequence[SlaClockEvent]
    ) -> None:
        await self._live.alarms_raised(conn, events)
        ids = [event.event_id for event in events]
        after_commit(lambda: self.fired.extend(ids))

    def stage_closed(self, stage: StageRow, duration_s: float) -> None:
        self._live.stage_closed(stage, duration_s)


async def _monitoring_with_orders(service_pool: ServicePool, orders: int) -> asyncpg.Pool:
    pool = await service_pool("monitoring")
    async with pool.acquire() as conn:
        await load_owned_reference(conn, owned_reference(MonitoringSettings(), at=T0), now=T0)
    apply = event_applier(Emitting())
    for _ in range(orders):
        placed = wheels_order(T0)
        await apply_events(pool, apply, placed)
    await caught_up(pool, until=LATE)  # monitoring has read every topic up to LATE
    return pool


async def _alarms_in_outbox(pool: asyncpg.Pool) -> list[SlaClockEvent]:
    async with pool.acquire() as conn:
        events = await outbox_events(conn)
    return [e for e in events if isinstance(e, SlaWarning | SlaBreached)]


async def test_replicas_fire_every_due_alarm_exactly_once_between_them(
    service_pool: ServicePool,
) -> None:
    first = await _monitoring_with_orders(service_pool, ORDERS)
    pools = [first, *[await service_pool("monitoring") for _ in range(RUNNERS - 1)]]
    sinks = [Recording() for _ in pools]
    go = asyncio.Event()

    async def replica(pool: asyncpg.Pool, sink: Recording) -> list[int]:
        """Ticks as `run_sla_clocks` does, in small batches so the replicas interleave."""
        await go.wait()
        ticks = []
        while fired := await fire_due_clocks(pool, sink, now=LATE, rule=NO_GRACE, limit=5):
            ticks.append(fired)
        return ticks

    runners = [asyncio.create_task(replica(p, s)) for p, s in zip(pools, sinks, strict=True)]
    await asyncio.sleep(0)
    go.set()
    ticks = await asyncio.gather(*runners)

    due = ORDERS * 4  # warning and breach of the acceptance and the end-to-end stage
    returned = [sum(t) for t in ticks]
    assert sum(returned) == due, f"the replicas fired {returned} of {due} due alarms"
    fired = [event_id for sink in sinks for event_id in sink.fired]
    assert len(fired) == len(set(fired)) == due, "an alarm was fired by two replicas"
    assert [len(sink.fired) for sink in sinks] == returned
    assert sum(1 for n in returned if n) >= 2, f"the replicas did not run together: {returned}"
    assert await fire_due_clocks(first, Recording(), now=LATE, rule=NO_GRACE) == 0
    in_outbox = await _alarms_in_outbox(first)
    assert {e.event_id for e in in_outbox} == set(fired)
    assert len(in_outbox) == due


async def test_a_stage_held_by_another_transaction_is_skipped_not_waited_for(
    service_pool: ServicePool,
) -> None:
    pool = await _monitoring_with_orders(service_pool, 3)
    async with pool.acquire() as holder, holder.transaction():
        # as the consumer holds a stage while it applies the stage's end event
        held = await holder.fetchval(
            "SELECT order_id FROM stages WHERE stage = 'acceptance' ORDER BY order_id LIMIT 1 "
            "FOR UPDATE"
        )
        sink = Recording()
        fired = await asyncio.wait_for(
            fire_due_clocks(pool, sink, now=LATE, rule=NO_GRACE), timeout=5
        )
        assert fired == 3 * 4 - 2  # all but the held stage's warning and breach
    events = await _alarms_in_outbox(pool)
    assert held not in {e.order_id for e in events if e.stage.value == "acceptance"}
    # once released, the next tick fires what was skipped
    assert await fire_due_clocks(pool, sink, now=LATE, rule=NO_GRACE) == 2
    assert len(sink.fired) == len(set(sink.fired)) == 12
