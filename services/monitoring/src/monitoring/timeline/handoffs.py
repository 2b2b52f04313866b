"""Events on their orders' timelines, applied as sets: the stage boundaries a run of events
marks, the clocks they start, the paused clocks they move and the stages they close, in a
statement per kind of effect whatever the number of events (`batch_store`).

The result is the one of applying the events one after another: boundaries merge as
successive upserts would (the first start and the first end win), and the events of an order
that ended or paused are applied in a part of their own, after what came before them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
from supplychain_contracts import Stage
from supplychain_contracts.events import SlaClockPause

from monitoring import domain
from monitoring.reference.memory import ReferenceMemory
from monitoring.sla import alarms, pauses
from monitoring.sla import rules as sla
from monitoring.sla import store as clock_store
from monitoring.sla.rules import StageRow
from monitoring.timeline import batch_store, clocks, store
from monitoring.timeline.batch_store import Marks
from monitoring.timeline.sinks import AlarmSink
from monitoring.timeline.traced import Traced

Key = tuple[UUID, Stage]


def _special(traced: Traced) -> bool:
    """An event after which its order's next events wait for it to be applied: it ends the
    order or begins or ends one of its waits."""
    return type(traced.event) in domain.ORDER_ENDINGS or pauses.edge_of(traced.event) is not None


def parts(events: Sequence[Traced]) -> Iterator[list[Traced]]:
    """The events in runs applied together: an event of an order that ended or paused in the
    current run, or that itself ends or pauses an order seen in it, starts the next run."""
    current: list[Traced] = []
    seen: set[UUID] = set()
    special: set[UUID] = set()
    for traced in events:
        order_id = traced.event.order_id
        if order_id in special or (order_id in seen and _special(traced)):
            yield current
            current, seen, special = [], set(), set()
        current.append(traced)
        seen.add(order_id)
        if _special(traced):
            special.add(order_id)
    if current:
        yield current


def merged_marks(events: Sequence[Traced]) -> list[Marks]:
    """What the events say of each stage, merged in their order."""
    marks: dict[Key, Marks] = {}
    for traced in events:
        event = traced.event
        outcome = domain.outcome_of(type(event))
        for stage, edge in domain.boundaries(type(event)):
            mark = marks.get((event.order_id, stage))
            if mark is None:
                mark = marks[(event.order_id, stage)] = Marks(
                    order_id=event.order_id,
                    stage=stage,
                    root_order_id=event.root_order_id,
                    supplier=event.supplier,
                    requester=event.requester,
                    employee_id=event.employee_id,
                )
            mark.trace_id = mark.trace_id or traced.trace_id
            if edge is domain.Edge.START and mark.started_at is None:
                mark.started_at = event.occurred_at
                mark.start_event_id = event.event_id
                mark.traceparent = traced.traceparent
            elif edge is domain.Edge.END and mark.ended_at is None:
                mark.ended_at = event.occurred_at
                mark.end_event_id = event.event_id
                mark.end_event_type = event.event_type
                mark.outcome = outcome
    return list(marks.values())


@dataclass
class Handoffs:
    """Applies runs of events to the timelines; alarms, pauses and closed stages go to
    `sink`. Policies and calendars come from `reference` (in memory)."""

    sink: AlarmSink
    reference: ReferenceMemory = field(default_factory=ReferenceMemory)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Traced]) -> None:
        for part in parts(events):
            await self._apply_part(conn, part)

    async def _apply_part(self, conn: asyncpg.Connection, part: list[Traced]) -> None:
        if self.reference.token is None:
            await self.reference.refresh(conn, None)
        marks = merged_marks(part)
        clocks = self._expected_clocks(part, marks)
        marked = await batch_store.record_and_mark(
            conn, part, marks, clocks, reference_token=self.reference.token
        )
        await self.sink.events_recorded(conn, part)
        rows = {(row.order_id, row.stage): row for row in marked.stages}
        await self._start_clocks(conn, part, rows, marked.reference_token)
        edges = [
            (t.event.order_id, edge) for t in part if (edge := pauses.edge_of(t.event)) is not None
        ]
        paused_orders = {order_id for order_id, _ in edges}
        await self._move_paused_clocks(conn, rows, paused_orders, edges)
        await self._close(conn, [row for row in rows.values() if row.can_close])
        ending = {
            t.event.order_id
            for t in part
            if domain.may_meet_order_end(type(t.event), domain.boundaries(type(t.event)))
        }
        ended_here = {t.event.order_id for t in part if type(t.event) in domain.ORDER_ENDINGS}
        await self._close_at_order_end(conn, ending & (marked.ended_orders | ended_here))

    async def _start_clocks(
        self,
        conn: asyncpg.Connection,
        part: list[Traced],
        rows: dict[Key, StageRow],
        token: UUID | None,
    ) -> None:
        """Time the started stages no policy timed yet, under the policy version in force when
        each started (`_clock_of`)."""
        waiting = [row for row in rows.values() if row.needs_clock]
        if not waiting:
            return
        await self.reference.refresh(conn, token)
        marking = _marking_events(part)
        timed = []
        for row in waiting:
            clock = await self._clock_of(conn, marking[(row.order_id, row.stage)], row)
            if clock is not None:
                timed.append((row.order_id, row.stage, clock))
        for row in await batch_store.set_clocks(conn, timed):
            rows[(row.order_id, row.stage)] = row

    async def _clock_of(
        self, conn: asyncpg.Connection, traced: Traced, stage: StageRow
    ) -> sla.Clock | None:
        """The stage's clock (`_policy_clock`); an older event without the priority falls
        back to the order's as seen so far."""
        assert stage.started_at is not None
        priority = domain.carried_priority(traced.event)
        if priority is None:
            priority = await store.order_priority(conn, traced.event.order_id)
        return self._policy_clock(traced, stage.stage, stage.started_at, priority)

    def _policy_clock(
        self, traced: Traced, stage: Stage, started_at: datetime, priority: str | None
    ) -> sla.Clock | None:
        """The stage's clock under the policy version in force when it started, picked from
        the facts the marking event carries (supplier, requester, priority: live and a replay
        pick the same one whichever topic they read first). None when no policy applies."""
        event = traced.event
        found = sla.policy_for(
            self.reference.policy_versions(event.supplier),
            supplier=event.supplier,
            requester=event.requester,
            priority=priority,
            at=started_at,
        )
        if found is None:
            return None
        code = found.content.calendar_code
        named = self.reference.calendar_versions(code) if code else []
        calendar = sla.calendar_for(found.content, named, started_at)
        clock = sla.clock_for(found, stage, started_at, calendar)
        if clock is None:
            return None
        return replace(clock, pause_reasons=pauses.reasons_pausing(found.content, stage))

    def _expected_clocks(self, part: list[Traced], marks: list[Marks]) -> list[sla.Clock | None]:
        """The clock each stage the part starts gets if nothing started it before, from the
        policies in memory and the priority its starting event carries (None: no policy, or
        the event carries no priority). The statement that marks the boundaries applies them
        only when the memory's token is still the store's; the others are timed after it."""
        starting = {t.event.event_id: t for t in part}
        expected: list[sla.Clock | None] = []
        for mark in marks:
            traced = starting.get(mark.start_event_id) if mark.start_event_id else None
            priority = None if traced is None else domain.carried_priority(traced.event)
            if traced is None or priority is None or mark.started_at is None:
                expected.append(None)
            else:
                expected.append(self._policy_clock(traced, mark.stage, mark.started_at, priority))
        return expected

    async def _move_paused_clocks(
        self,
        conn: asyncpg.Connection,
        rows: dict[Key, StageRow],
        paused_orders: set[UUID],
        edges: list[tuple[UUID, pauses.PauseEdge]],
    ) -> None:
        """Record the waits that began or ended, and move every clock they or these stages'
        boundaries stop or run again: each timed with every pause of its order known."""
        orders = paused_orders | {
            row.order_id for row in rows.values() if row.pause_reasons and row.duration_s is None
        }
        if not orders:
            return
        await batch_store.lock_orders_clocks(conn, list(orders))
        await batch_store.record_pause_edges(conn, edges)
        known = {
            order_id: pauses.pause_intervals(order_edges)
            for order_id, order_edges in (await clock_store.pause_edges(conn, list(orders))).items()
        }
        # every pausable stage of an order that paused or resumed; of the others, the stages
        # marked here (as the statements that marked and timed them returned them)
        moving = [
            row
            for row in rows.values()
            if row.order_id not in paused_orders
            and row.pause_reasons
            and row.duration_s is None
            and row.started_at is not None
            and row.target_s is not None
        ]
        if paused_orders:
            moving += await batch_store.pausable_stages(conn, sorted(paused_orders))
        moved: list[tuple[UUID, Stage, pauses.PausedClock]] = []
        notices: list[SlaClockPause] = []
        for stage in moving:
            rows[(stage.order_id, stage.stage)] = stage
            if not known.get(stage.order_id) and not stage.paused_s and not stage.paused_since:
                continue  # never paused: its clock is the one its policy set, nothing to tell
            timed = _paused_clock(stage, known.get(stage.order_id, []))
            if timed is None:
                continue
            clock, cut = timed
            now = (clock.warn_at, clock.deadline, clock.paused_s, clock.paused_since)
            if now != (stage.warn_at, stage.deadline, stage.paused_s, stage.paused_since):
                moved.append((stage.order_id, stage.stage, clock))
                stage = replace(
                    stage,
                    warn_at=clock.warn_at,
                    deadline=clock.deadline,
                    paused_s=clock.paused_s,
                    paused_since=clock.paused_since,
                )
                rows[(stage.order_id, stage.stage)] = stage
            notices.extend(alarms.pause_events(stage, cut))
        for row in await batch_store.set_paused_clocks(conn, moved):
            rows[(row.order_id, row.stage)] = row
        if notices:
            new = await clock_store.new_pause_notices(conn, [e.event_id for e in notices])
            await self.sink.pauses_noticed(conn, [e for e in notices if e.event_id in new])

    async def _close(self, conn: asyncpg.Connection, stages: list[StageRow]) -> None:
        """Record the real durations once. A stage that ended after its deadline is breached,
        and if its clock had not fired yet (events arrived late) the alarms are raised now;
        one its order's end closed raises nothing (the outcome decides). A breach its end
        proves wrong (it ended by the deadline) is retracted."""
        durations = [(s.order_id, s.stage, s.elapsed_seconds()) for s in stages]
        closed = await batch_store.close_stages(conn, durations)
        for stage, (_, _, duration) in zip(stages, durations, strict=True):
            if (stage.order_id, stage.stage) not in closed:
                continue
            late = stage.late_alarms()
            if sla.Alarm.BREACH in late:
                await clocks.raise_alarms(conn, self.sink, stage, late, now=datetime.now(UTC))
            elif stage.breach_proved_wrong:
                await self._retract(conn, stage)
            self.sink.stage_closed(stage, duration)

    async def _close_at_order_end(self, conn: asyncpg.Connection, orders: set[UUID]) -> None:
        """The orders ended (rejected, their cancellation settled, blocked for good: not the
        cancellation request): every stage of theirs still running closes then, with that
        outcome. Run on those events and on every stage start, so a stage that starts after
        the end was read (a replay reading the orders topic after fulfilment's) closes at the
        same instant as live."""
        ended = await batch_store.end_stages_at_order_end(conn, sorted(orders))
        if not ended:
            return
        rows = {(row.order_id, row.stage): row for row in ended}
        await self._move_paused_clocks(conn, rows, set(), [])
        await self._close(conn, [row for row in rows.values() if row.can_close])

    async def _retract(self, conn: asyncpg.Connection, stage: StageRow) -> None:
        """SlaBreachRetracted (once: its id derives from the stage) in the trace of the event
        that ended the stage, marked in this transaction."""
        now = datetime.now(UTC)
        await clock_store.mark_retracted(conn, order_id=stage.order_id, stage=stage.stage, at=now)
        await self.sink.alarms_raised(conn, [alarms.retraction_event(stage, now=now)])


def _marking_events(part: list[Traced]) -> dict[Key, Traced]:
    """For each stage the part marks, the event that picks its policy: the one that started
    it, else the first that marked it."""
    marking: dict[Key, Traced] = {}
    for traced in part:
        for stage, edge in domain.boundaries(type(traced.event)):
            key = (traced.event.order_id, stage)
            if key not in marking or (
                edge is domain.Edge.START and domain.Edge.START not in _edges(marking[key], stage)
            ):
                marking[key] = traced
    return marking


def _edges(traced: Traced, stage: Stage) -> set[domain.Edge]:
    return {edge for s, edge in domain.boundaries(type(traced.event)) if s is stage}


def _paused_clock(
    stage: StageRow, known: list[pauses.Pause]
) -> tuple[pauses.PausedClock, list[pauses.Pause]] | None:
    """Warning and deadline from the stage's start, target and calendar less its pauses (and
    those pauses); None for a stage without a clock."""
    if (
        stage.started_at is None
        or stage.target_s is None
        or stage.warning_s is None
        or stage.calendar is None
    ):
        return None
    cut = pauses.stage_pauses(
        known, stage.pause_reasons, started_at=stage.started_at, ended_at=stage.ended_at
    )
    clock = pauses.paused_clock(
        started_at=stage.started_at,
        target_s=stage.target_s,
        warning_s=stage.warning_s,
        calendar=stage.calendar,
        pauses=cut,
    )
    return clock, cut
