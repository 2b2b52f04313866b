"""In-process signals that work items changed state: a background job looks again at once
instead of at its next poll (it still polls, for the delays it waits out and for other
replicas). One signal per job, so one job's round does not swallow another's news."""

from __future__ import annotations

import asyncio
import contextlib

from supplychain_kit.effects import after_commit

_changed = asyncio.Event()  # the autopilot's
_receipt_due = asyncio.Event()  # the auto-receipt scan's


def work_changed() -> None:
    """Call inside the transaction that changed a work item: signalled once it commits."""
    after_commit(_changed.set)


def start_looking() -> None:
    """The autopilot starts a round: changes from now on call for another one."""
    _changed.clear()


async def wait_for_work(poll_interval_s: float) -> None:
    """Until a change is signalled, or the poll interval has passed."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_changed.wait(), timeout=poll_interval_s)


def receipt_due_changed() -> None:
    """Call inside the transaction that shipped an order (a new auto-receipt due time)."""
    after_commit(_receipt_due.set)


def start_scanning() -> None:
    """The auto-receipt scan starts a round: shipments from now on call for another one."""
    _receipt_due.clear()


async def wait_for_receipt_due(timeout_s: float) -> None:
    """Until a shipment is signalled, or `timeout_s` (the next due time, bounded) passed."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_receipt_due.wait(), timeout=timeout_s)
