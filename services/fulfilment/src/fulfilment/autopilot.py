"""A simulated worker per department: drives the same commands a person would."""

from __future__ import annotations

import asyncio
import logging

from supplychain_kit.runtime import ServiceRuntime

from fulfilment import commands, store
from fulfilment.config import FulfilmentSettings
from fulfilment.domain import Command, IllegalTransition, WorkStatus

log = logging.getLogger(__name__)


def steps(settings: FulfilmentSettings) -> list[tuple[WorkStatus, float, Command]]:
    return [
        (WorkStatus.RECEIVED, settings.autopilot_accept_delay_s, Command.ACCEPT),
        (WorkStatus.ACCEPTED, 0.0, Command.START),
        (WorkStatus.IN_PROGRESS, settings.autopilot_ship_delay_s, Command.SHIP),
        (WorkStatus.SHIPPED, settings.autopilot_receipt_delay_s, Command.RECEIPT),
    ]


async def run_autopilot(runtime: ServiceRuntime) -> None:
    settings = runtime.settings
    assert isinstance(settings, FulfilmentSettings)
    if not settings.autopilot:
        return
    log.info("autopilot on")
    while True:
        try:
            for status, delay, command in steps(settings):
                async with runtime.pool.acquire() as conn, conn.transaction():
                    for order_id in await store.due_for_autopilot(conn, status, older_than_s=delay):
                        try:
                            await commands.execute(
                                conn, order_id=order_id, command=command, schema=runtime.schema
                            )
                        except IllegalTransition:
                            continue
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep simulating through outages
            log.warning("autopilot step failed: %r", exc)
        await asyncio.sleep(settings.autopilot_poll_interval_ms / 1000)
