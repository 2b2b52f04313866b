"""A department's subscriber to `supplychain.fulfilment.v1`: copy this folder to start yours.

It reads every fulfilment event with FastStream, turns each record into its typed event with
`supplychain_contracts.parse_event` (None for an event type this version of the contracts
does not know: skipped and noted, never an error), and applies each event exactly once by
its `event_id`: the inbox row and the order's new status are one SQLite transaction
(store.py), so a record Kafka delivers twice changes nothing the second time.

    pip install supplychain-contracts "faststream[kafka]"
    KAFKA_BOOTSTRAP_SERVERS=localhost:9092 python subscriber.py

Environment: KAFKA_BOOTSTRAP_SERVERS, SUBSCRIBER_GROUP (your consumer group: one per
department, never a service's), SUBSCRIBER_DATABASE (the SQLite file), and optionally
KAFKA_SESSION_TIMEOUT_MS, KAFKA_HEARTBEAT_INTERVAL_MS, KAFKA_FETCH_MAX_WAIT_MS.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from store import RecordAt, SubscriberStore
from supplychain_contracts import (
    CancellationRefused,
    ComponentsReceived,
    ComponentsRequested,
    FeedbackGiven,
    HelpAnswered,
    HelpAwaitingRequester,
    HelpRequested,
    OrderAccepted,
    OrderBlocked,
    OrderDelivered,
    OrderRejected,
    OrderShipped,
    WorkCancelled,
    WorkStarted,
    parse_event,
    topics,
)
from supplychain_contracts.envelope import Event

log = logging.getLogger("fulfilment-subscriber")

# The order status each fulfilment event leaves behind (the statuses order intake shows),
# or None for an event that is recorded but moves no status. Every event of the topic is
# named, so a decision is never forgotten; an event type added to the contracts later is
# recorded and moves no status until you name it here.
STATUS_AFTER: dict[type[Event], str | None] = {
    OrderAccepted: "accepted",
    OrderRejected: "rejected",
    WorkStarted: "in_progress",
    ComponentsRequested: "awaiting_components",  # the supplier waits on its own suppliers
    ComponentsReceived: "in_progress",  # every component arrived: the work goes on
    OrderBlocked: "blocked",  # a component was rejected or cancelled: it cannot ship
    OrderShipped: "shipped",
    OrderDelivered: "delivered",
    WorkCancelled: "cancelled",  # the supplier settled a cancellation: nothing is charged
    CancellationRefused: None,  # the order goes on in the status it had
    FeedbackGiven: None,
    HelpRequested: None,
    HelpAwaitingRequester: None,
    HelpAnswered: None,
}


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = "localhost:9092"
    group_id: str = "fulfilment-subscriber-example"
    database: Path = Path("subscriber.sqlite3")
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    fetch_max_wait_ms: int = 500

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        default = cls()
        return cls(
            bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", default.bootstrap_servers),
            group_id=env.get("SUBSCRIBER_GROUP", default.group_id),
            database=Path(env.get("SUBSCRIBER_DATABASE", str(default.database))),
            session_timeout_ms=int(env.get("KAFKA_SESSION_TIMEOUT_MS", default.session_timeout_ms)),
            heartbeat_interval_ms=int(
                env.get("KAFKA_HEARTBEAT_INTERVAL_MS", default.heartbeat_interval_ms)
            ),
            fetch_max_wait_ms=int(env.get("KAFKA_FETCH_MAX_WAIT_MS", default.fetch_max_wait_ms)),
        )


async def raw_value(message: StreamMessage[Any]) -> Any:
    """Hand the record's bytes to the handler undecoded: parse_event reads them."""
    return message.body


def create_app(settings: Settings) -> FastStream:
    broker = KafkaBroker(settings.bootstrap_servers, client_id=settings.group_id)
    store = SubscriberStore(settings.database)

    @broker.subscriber(
        topics.FULFILMENT,
        group_id=settings.group_id,
        auto_offset_reset="earliest",  # a new group reads the topic from its start
        ack_policy=AckPolicy.NACK_ON_ERROR,  # a failure is fetched again, never lost
        decoder=raw_value,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    async def on_fulfilment(message: KafkaMessage) -> None:
        record = message.raw_message
        at = RecordAt(record.topic, record.partition, record.offset)
        header_type = message.headers.get(topics.HEADER_EVENT_TYPE)
        try:
            event = parse_event(topics.FULFILMENT, message.body, message.headers)
        except ValueError as error:  # no valid event: note it and move on
            log.error("not a valid event at %s: %s", at, error)
            store.skip(at, header_type, f"not a valid event: {error}"[:500])
            return
        if event is None:
            log.info("skipped %s at %s: newer than this version of the contracts", header_type, at)
            store.skip(at, header_type, "event type unknown to this version of the contracts")
            return
        if store.apply(event, STATUS_AFTER.get(type(event))):
            log.info("applied %s %s of order %s", event.event_type, event.event_id, _order(event))
        else:
            log.info("duplicate %s %s: applied before", event.event_type, event.event_id)

    async def close_store() -> None:
        # async, so it runs on the event loop's thread, the one that opened the SQLite
        # connection (FastStream runs a plain function hook in a worker thread)
        store.close()

    app = FastStream(broker)
    app.after_shutdown(close_store)
    return app


def _order(event: Event) -> str:
    return str(getattr(event, "order_id", "-"))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(create_app(Settings.from_env()).run())
