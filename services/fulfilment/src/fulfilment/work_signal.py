"""In-process signals that work items changed state: a background job looks again at once
instead of at its next poll (it still polls, for the delays it waits out and for other
replicas). One signal per job, so one job's round does not swallow another's news."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars

from supplychain_kit.messaging.effects import after_commit


class Signal:
    def __init__(self) -> None:
        self._set = asyncio.Event()
        # set in the job's own task: its own commits do not call for another round (it
        # already sleeps until the next due item), so a working round is not followed by an
        # empty one
        self._own = contextvars.ContextVar(f"signal-own-{id(self)}", default=False)

    def changed(self) -> None:
        """Call inside the transaction that made the change: signalled once it commits."""
        if not self._own.get():
            after_commit(self._set.set)

    def ignore_own_changes(self) -> None:
        """Called in the job's task: the changes it makes itself signal nothing."""
        self._own.set(True)

    def start_round(self) -> None:
        """The job starts a round: changes from now on call for another one."""
        self._set.clear()

    async def wait(self, timeout_s: float) -> None:
        """Until a change is signalled, or `timeout_s` has passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._set.wait(), timeout=timeout_s)


work = Signal()  # the autopilot's: any work item changed state
receipt_due = Signal()  # the auto-receipt scan's: an order shipped (a new due time)

# What the callers name (the autopilot's signal).
work_changed = work.changed
ignore_own_changes = work.ignore_own_changes
start_looking = work.start_round
wait_for_work = work.wait
