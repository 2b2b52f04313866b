"""Dispatch tables: a service's subscriber is a table of event class -> handler.

`dispatch({OrderShipped: on_shipped, ...})` resolves the table once over every contract
event (a handler of a base class takes its subclasses); a `Batched` handler takes the
consecutive events of a fetched batch it handles in one call. The consumer
(`messaging.consumer`) applies the resulting `Dispatch` inside its transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from supplychain_contracts.envelope import Event
from supplychain_contracts.registry import all_event_models

# An effect: applied inside the transaction that also records the event in the inbox.
ApplyEvent = Callable[[asyncpg.Connection, Event], Awaitable[None]]
# One event class's effect; the table of them is the service's subscriber.
EventHandler = Callable[[asyncpg.Connection, Any], Awaitable[None]]

# A handler of several events at once: a run of consecutive events of a fetched batch that
# it handles, in their order (set-based SQL: a statement per kind of effect, not per event).
BatchHandler = Callable[[asyncpg.Connection, Sequence[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Batched:
    """Registers a BatchHandler in a dispatch table: the consumer hands it every consecutive
    event of a fetched batch it handles at once (alone, an event comes as a list of one)."""

    handle: BatchHandler


class Dispatch:
    """The effect of a dispatch table (an ApplyEvent); `batched(event)` tells the consumer
    which events a batch handler takes together."""

    def __init__(self, resolved: Mapping[type[Event], EventHandler | Batched]) -> None:
        self._resolved = dict(resolved)

    async def __call__(self, conn: asyncpg.Connection, event: Event) -> None:
        handler = self._resolved.get(type(event))
        if isinstance(handler, Batched):
            await handler.handle(conn, [event])
        elif handler is not None:
            await handler(conn, event)

    def batched(self, event: Event) -> Batched | None:
        handler = self._resolved.get(type(event))
        return handler if isinstance(handler, Batched) else None

    def handles(self, model: type[Event]) -> bool:
        """Whether an event of this class has an effect (a handler of its own or a base's)."""
        return model in self._resolved


def dispatch(handlers: Mapping[type[Event], EventHandler | Batched]) -> Dispatch:
    """One effect from a table of event class → handler; events without one are ignored.

    A handler registered for a base class (OrderParties) handles every event deriving from
    it that has no handler of its own. The table is resolved once, over every contract event.
    A `Batched` handler takes the consecutive events of a batch it handles in one call.
    """
    for model in handlers:
        if not (isinstance(model, type) and issubclass(model, Event)):
            raise TypeError(f"{model!r} is not an event class")
    resolved: dict[type[Event], EventHandler | Batched] = {}
    for model in (*all_event_models(), *handlers):
        handler = next((handlers[base] for base in model.__mro__ if base in handlers), None)
        if handler is not None:
            resolved[model] = handler
    return Dispatch(resolved)
