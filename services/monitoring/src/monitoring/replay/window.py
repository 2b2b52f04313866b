"""The window a replay can judge (pure): what the topics still hold, and which orders lie
(partly) before it.

The embedded broker forgets its topics when `make run` restarts, while the database keeps
every stage; a Kafka topic drops its oldest segments past retention. Either way the live
tables know events the topics no longer hold, and the stages of those orders cannot be
rebuilt: they are outside the window, not missing. An event the topics lack that happened
*after* its topic's window opened is not explained by that, and its order is compared (so
the difference shows).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from supplychain_contracts.registry import TOPIC_BY_EVENT_TYPE


@dataclass
class TopicWindow:
    """What one topic held when the replay read it, from the records' timestamps."""

    records: int = 0
    first_by_partition: dict[int, datetime] = field(default_factory=dict)
    last_record_at: datetime | None = None

    def saw(self, partition: int, timestamp_ms: int | None) -> None:
        """A record read (partitions are read from their beginning, in offset order)."""
        self.records += 1
        if timestamp_ms is None or timestamp_ms <= 0:
            return  # no timestamp: nothing to say about the window
        at = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        self.first_by_partition.setdefault(partition, at)
        if self.last_record_at is None or at > self.last_record_at:
            self.last_record_at = at

    @property
    def first_record_at(self) -> datetime | None:
        return min(self.first_by_partition.values(), default=None)

    @property
    def complete_from(self) -> datetime | None:
        """Since when the topic holds every record it got: the latest of its partitions'
        first records (a log loses records only at its head). None: it holds none."""
        return max(self.first_by_partition.values(), default=None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "first_record_at": self.first_record_at,
            "complete_from": self.complete_from,
            "last_record_at": self.last_record_at,
        }


@dataclass(frozen=True)
class MissingEvents:
    """Events of one order and type the live tables recorded and the topics no longer hold;
    `latest` is when the last of them happened."""

    order_id: UUID
    event_type: str
    latest: datetime


def explained(missing: MissingEvents, windows: Mapping[str, TopicWindow]) -> bool:
    """Missing because the topic no longer holds that time: it happened before its topic's
    window opened, or the topic holds nothing at all (made anew and still empty)."""
    topic = TOPIC_BY_EVENT_TYPE.get(missing.event_type)
    window = windows.get(topic) if topic is not None else None
    if window is None:
        return False  # not an event of a replayed topic: nothing explains it
    opened = window.complete_from
    return opened is None or missing.latest < opened


def orders_before_window(
    missing: Iterable[MissingEvents], windows: Mapping[str, TopicWindow]
) -> set[UUID]:
    """Orders whose stages the topics cannot rebuild: some of their events are gone, and
    every one that is gone is explained by the window."""
    gone: dict[UUID, bool] = {}
    for events in missing:
        gone[events.order_id] = gone.get(events.order_id, True) and explained(events, windows)
    return {order_id for order_id, all_explained in gone.items() if all_explained}


def window_of(windows: Mapping[str, TopicWindow]) -> dict[str, Any]:
    """The window the replay judged: from the instant every topic holding records holds all
    of them, to the last record read; with each topic's own."""
    opened = [w.complete_from for w in windows.values() if w.complete_from is not None]
    closed = [w.last_record_at for w in windows.values() if w.last_record_at is not None]
    return {
        "from": max(opened, default=None),
        "to": max(closed, default=None),
        "topics": {topic: window.as_dict() for topic, window in sorted(windows.items())},
    }
