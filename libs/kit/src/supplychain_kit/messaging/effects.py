"""Side effects that must follow a commit, never a rolled-back transaction.

A consumer may apply a batch, roll it back and apply it again one by one: a metric counted
inside the transaction would then count twice. Handlers hand such effects to `after_commit`;
the consumer runs them once the transaction that applied the event has committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Effect = Callable[[], None]

_pending: ContextVar[list[Effect] | None] = ContextVar("supplychain_after_commit", default=None)


def after_commit(effect: Effect) -> None:
    """Run `effect` when the current unit of work commits (now, when there is none)."""
    pending = _pending.get()
    if pending is None:
        effect()
    else:
        pending.append(effect)


@contextmanager
def unit_of_work() -> Iterator[list[Effect]]:
    """Collect the effects of one transaction; call `run(effects)` after it committed."""
    effects: list[Effect] = []
    token = _pending.set(effects)
    try:
        yield effects
    finally:
        _pending.reset(token)


def run(effects: list[Effect]) -> None:
    for effect in effects:
        effect()
    effects.clear()
