"""A simulated worker per department: drives the same commands a person would."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import asyncpg
from supplychain_kit.runtime import ServiceRuntime

from fulfilment import commands, store, work_signal
from fulfilment.chain import ReferenceNotKnownYet
from fulfilment.config import DepartmentAutopilot, FulfilmentSettings
from fulfilment.domain import Command, IllegalTransition, WorkStatus

log = logging.getLogger(__name__)

REJECT_REASON = "autopilot: no capacity for this order"


@dataclass(frozen=True)
class Worker:
    """A department's simulated worker, its overrides applied to the global settings."""

    enabled: bool
    accept_delay_s: float
    start_delay_s: float
    ship_delay_s: float
    receipt_delay_s: float
    reject_probability: float


@dataclass(frozen=True)
class Step:
    waiting_in: WorkStatus
    command: Command
    delay: Callable[[Worker], float]
    by: Literal["supplier", "requester"]


STEPS = (
    Step(WorkStatus.RECEIVED, Command.ACCEPT, lambda w: w.accept_delay_s, "supplier"),
    Step(WorkStatus.ACCEPTED, Command.START, lambda w: w.start_delay_s, "supplier"),
    Step(WorkStatus.IN_PROGRESS, Command.SHIP, lambda w: w.ship_delay_s, "supplier"),
    Step(WorkStatus.SHIPPED, Command.RECEIPT, lambda w: w.receipt_delay_s, "requester"),
)


def worker_for(settings: FulfilmentSettings, department: str) -> Worker:
    own = settings.autopilot_departments.get(department) or DepartmentAutopilot()

    def pick(override: float | None, default: float) -> float:
        return default if override is None else override

    return Worker(
        enabled=settings.autopilot and own.enabled,
        accept_delay_s=pick(own.accept_delay_s, settings.autopilot_accept_delay_s),
        start_delay_s=pick(own.start_delay_s, settings.autopilot_start_delay_s),
        ship_delay_s=pick(own.ship_delay_s, settings.autopilot_ship_delay_s),
        receipt_delay_s=pick(own.receipt_delay_s, settings.autopilot_receipt_delay_s),
        reject_probability=pick(own.reject_probability, settings.autopilot_reject_probability),
    )


def next_move(step: Step, worker: Worker, *, waited_s: float, roll: float) -> Command | None:
    """What the worker does with an item that waited `waited_s` in the step's state (`roll`:
    a uniform random number in [0, 1) deciding a rejection)."""
    if not worker.enabled or waited_s < step.delay(worker):
        return None
    if step.command is Command.ACCEPT and roll < worker.reject_probability:
        return Command.REJECT
    return step.command


def shortest_delay(settings: FulfilmentSettings, step: Step) -> float:
    overrides = [step.delay(worker_for(settings, code)) for code in settings.autopilot_departments]
    return min([step.delay(worker_for(settings, "")), *overrides])


async def run_step(
    runtime: ServiceRuntime[FulfilmentSettings], settings: FulfilmentSettings, step: Step
) -> None:
    async with runtime.pool.acquire() as conn, conn.transaction():
        due = await store.due_for_autopilot(
            conn, step.waiting_in, older_than_s=shortest_delay(settings, step)
        )
        for order_id, supplier, requester, waited_s in due:
            department = supplier if step.by == "supplier" else requester
            command = next_move(
                step, worker_for(settings, department), waited_s=waited_s, roll=random.random()
            )
            if command is None:
                continue
            try:
                async with conn.transaction():  # a savepoint: one failed item spoils no other
                    await commands.execute(
                        conn,
                        order_id=order_id,
                        command=command,
                        reason=REJECT_REASON if command is Command.REJECT else None,
                    )
            except IllegalTransition:
                continue  # moved on meanwhile (a person was quicker, or it waits for parts)
            except ReferenceNotKnownYet as exc:
                # the catalogue (or a department) has not reached fulfilment yet: the order
                # stays received and is tried again on the next round
                log.debug("autopilot cannot %s %s yet: %s", command.value, order_id, exc)
            except asyncpg.PostgresError as exc:  # one bad item must not stall the others
                log.warning("autopilot could not %s %s: %r", command.value, order_id, exc)


async def run_autopilot(runtime: ServiceRuntime[FulfilmentSettings]) -> None:
    settings = runtime.settings
    if not settings.autopilot:
        return
    log.info("autopilot on")
    work_signal.ignore_own_changes()  # this task's commands: it looks again when next due
    poll_s = settings.autopilot_poll_interval_ms / 1000
    while True:
        work_signal.start_looking()
        for step in STEPS:
            try:
                await run_step(runtime, settings, step)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep simulating through outages
                log.warning("autopilot step %s failed: %r", step.command.value, exc)
        await work_signal.wait_for_work(await pause_s(runtime, settings, poll_s))


async def pause_s(
    runtime: ServiceRuntime[FulfilmentSettings], settings: FulfilmentSettings, poll_s: float
) -> float:
    """How long the autopilot sleeps (unless new work is signalled): until the next item is
    due, at least `poll_s` (an item due but not movable yet is not spun on), at most the
    sweep for other replicas' work (`autopilot_max_sleep_s`)."""
    delays = {step.waiting_in: shortest_delay(settings, step) for step in STEPS}
    try:
        async with runtime.pool.acquire() as conn:
            due_in = await store.next_autopilot_due_s(conn, delays)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # an outage: look again at the poll interval
        log.debug("autopilot cannot read its next due time: %r", exc)
        return poll_s
    longest = settings.autopilot_max_sleep_s
    return longest if due_in is None else min(max(due_in, poll_s), longest)
