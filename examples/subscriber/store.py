"""What the example subscriber keeps, in one SQLite file: the events it applied (its inbox,
keyed by `event_id`), the order statuses it derived from them, and the records it skipped.

The inbox row and the status change are written in one transaction, so a record delivered
twice (Kafka delivers at least once) changes nothing the second time.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from supplychain_contracts.envelope import Event
from supplychain_contracts.events import OrderParties

SCHEMA = """
CREATE TABLE IF NOT EXISTS applied_events (
    event_id    TEXT PRIMARY KEY,   -- the idempotency key of every contract event
    event_type  TEXT NOT NULL,
    order_id    TEXT,
    occurred_at TEXT NOT NULL,
    applied_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS order_status (
    order_id   TEXT PRIMARY KEY,
    supplier   TEXT NOT NULL,
    requester  TEXT NOT NULL,
    status     TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS skipped_records (
    topic      TEXT NOT NULL,
    partition  INTEGER NOT NULL,
    "offset"   INTEGER NOT NULL,
    event_type TEXT,
    reason     TEXT NOT NULL,
    PRIMARY KEY (topic, partition, "offset")
);
"""


@dataclass(frozen=True)
class RecordAt:
    """Where a record was read: enough to find it again with any Kafka tool."""

    topic: str
    partition: int
    offset: int


class SubscriberStore:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def apply(self, event: Event, status: str | None) -> bool:
        """Record the event and, when it moves the order on, the order's new status; False
        (and nothing changed) when this event was applied before."""
        now = datetime.now(UTC).isoformat()
        order_id = str(getattr(event, "order_id", "")) or None
        with self._transaction():
            inserted = self._db.execute(
                "INSERT OR IGNORE INTO applied_events VALUES (?, ?, ?, ?, ?)",
                (
                    str(event.event_id),
                    event.event_type,
                    order_id,
                    event.occurred_at.isoformat(),
                    now,
                ),
            ).rowcount
            if inserted == 0:
                return False
            if status is not None and isinstance(event, OrderParties):
                self._db.execute(
                    """INSERT INTO order_status VALUES (?, ?, ?, ?, ?)
                       ON CONFLICT (order_id) DO UPDATE
                       SET status = excluded.status, updated_at = excluded.updated_at""",
                    (order_id, event.supplier, event.requester, status, now),
                )
        return True

    def skip(self, at: RecordAt, event_type: str | None, reason: str) -> None:
        """Note a record that was not applied (an unknown event type, or no valid event)."""
        self._db.execute(
            "INSERT OR IGNORE INTO skipped_records VALUES (?, ?, ?, ?, ?)",
            (at.topic, at.partition, at.offset, event_type, reason),
        )

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
