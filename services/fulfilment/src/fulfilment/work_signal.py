"""In-process signal that work items changed state: the autopilot looks again at once instead
of at its next poll (it still polls, for the delays it waits out and for other replicas)."""

from __future__ import annotations

import asyncio
import contextlib

from supplychain_kit.effects import after_commit

_changed = asyncio.Event()


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
