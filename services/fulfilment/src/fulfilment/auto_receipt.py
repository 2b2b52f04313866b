"""Auto-receipt: a delivery the requester leaves unconfirmed is confirmed for it once the SLA
policy's window (business time after shipment) has passed, with `confirmed_by: "auto"`.

The due time is fixed when the order ships (`receipt_window.due_at`). The scan confirms due deliveries
under row locks that other replicas skip (FOR UPDATE SKIP LOCKED), so each is confirmed once;
between rounds it sleeps until the next due time (bounded by a setting: other replicas'
shipments are not signalled here) or until a shipment here is signalled.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import asyncpg
from supplychain_contracts.envelope import utc_now
from supplychain_kit.runtime import ServiceRuntime

from fulfilment import commands, store, work_signal
from fulfilment.config import FulfilmentSettings
from fulfilment.domain import Command, IllegalTransition
from fulfilment.receipt_window import sleep_seconds

log = logging.getLogger(__name__)

# After a round that left due deliveries (held by another replica, or failing), look again
# this much later at the soonest.
RETRY_AFTER_S = 1.0


async def confirm_due(
    pool: asyncpg.Pool, *, now: datetime | None = None, limit: int = 100
) -> tuple[int, datetime | None]:
    """Confirm the deliveries due at `now` (one transaction, rows other replicas hold are
    skipped): (how many were confirmed, the next due time left, None when none)."""
    now = now or utc_now()
    confirmed = 0
    async with pool.acquire() as conn:
        async with conn.transaction():
            for order_id in await store.due_auto_receipts(conn, now=now, limit=limit):
                try:
                    async with conn.transaction():  # a savepoint: one bad item spoils no other
                        await commands.execute(
                            conn, order_id=order_id, command=Command.RECEIPT, confirmed_by="auto"
                        )
                    confirmed += 1
                except IllegalTransition:
                    continue  # the requester confirmed it meanwhile
                except asyncpg.PostgresError as exc:  # one bad item must not stall the others
                    log.warning("auto-receipt of %s failed: %r", order_id, exc)
        return confirmed, await store.next_auto_receipt_due(conn)


async def run_auto_receipt(runtime: ServiceRuntime[FulfilmentSettings]) -> None:
    settings = runtime.settings
    bound = settings.auto_receipt_max_sleep_s
    while True:
        work_signal.receipt_due.start_round()
        try:
            confirmed, next_due = await confirm_due(runtime.pool, limit=settings.auto_receipt_batch)
            if confirmed:
                log.info("auto-receipt confirmed %d deliveries", confirmed)
            pause = 0.0 if confirmed >= settings.auto_receipt_batch else None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep scanning through outages
            log.warning("auto-receipt scan failed: %r", exc)
            next_due, pause = None, None
        if pause is None:
            pause = sleep_seconds(
                next_due, utc_now(), bound_s=bound, floor_s=min(RETRY_AFTER_S, bound)
            )
        if pause > 0:
            await work_signal.receipt_due.wait(pause)
