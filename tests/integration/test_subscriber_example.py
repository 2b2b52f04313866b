"""The example subscriber a department copies (examples/subscriber), run as its own process
against the real broker: typed fulfilment events applied exactly once by `event_id`, an
event type it does not know skipped, a record that is no event noted, the partition moving on.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from supplychain_contracts import (
    OrderAccepted,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    OrderShipped,
    WorkStarted,
    follow_up,
    topics,
)
from supplychain_contracts.envelope import Event
from supplychain_devstack.tansu import TANSU_CLIENT_ENV

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "subscriber"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def chain() -> list[Event]:
    placed = OrderPlaced(
        order_id=uuid.uuid4(),
        root_order_id=uuid.uuid4(),
        producer="order-intake",
        supplier="WHEELS",
        requester="ASSEMBLY",
        lines=(OrderLine(sku="WHEEL-28", quantity=2, unit_price=Decimal("38.50")),),
    )
    accepted = follow_up(placed, OrderAccepted, producer="fulfilment")
    started = follow_up(accepted, WorkStarted, producer="fulfilment")
    shipped = follow_up(started, OrderShipped, producer="fulfilment")
    delivered = follow_up(
        shipped, OrderDelivered, producer="fulfilment", lines=placed.lines, currency="EUR"
    )
    return [accepted, started, shipped, delivered]


async def publish(bootstrap: str, records: list[tuple[bytes, bytes, str]]) -> None:
    """(key, value, event_type) in this order: one key, so one partition keeps the order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for key, value, event_type in records:
            await producer.send_and_wait(
                topics.FULFILMENT,
                value,
                key=key,
                headers=[
                    ("event_type", event_type.encode()),
                    ("traceparent", TRACEPARENT.encode()),
                ],
            )
    finally:
        await producer.stop()


@contextmanager
def example_subscriber(bootstrap: str, database: Path, log: Path) -> Iterator[Path]:
    """The example as a department runs it: its own process, its own consumer group."""
    env = {
        **os.environ,
        **TANSU_CLIENT_ENV,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "SUBSCRIBER_GROUP": f"example-subscriber-{uuid.uuid4().hex[:8]}",
        "SUBSCRIBER_DATABASE": str(database),
    }
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "subscriber.py"],
            cwd=EXAMPLE,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def logged(log: Path) -> str:
    return log.read_text(errors="replace")


async def wait_for_line(log: Path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in logged(log):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{text!r} not logged in {timeout}s:\n{logged(log)}")


def rows(database: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(database, timeout=10) as db:
        return db.execute(query).fetchall()


async def test_the_example_applies_each_event_once_and_skips_what_it_does_not_know(
    broker, tmp_path: Path
) -> None:
    accepted, started, shipped, delivered = chain()
    key = str(accepted.order_id).encode()
    unknown = {
        **json.loads(shipped.model_dump_json()),
        "event_id": str(uuid.uuid4()),
        "event_type": "OrderTeleported",
        "teleporter": "T-1",
    }
    records = [
        (key, accepted.model_dump_json().encode(), "OrderAccepted"),
        (key, started.model_dump_json().encode(), "WorkStarted"),
        (key, accepted.model_dump_json().encode(), "OrderAccepted"),  # delivered twice
        (key, json.dumps(unknown).encode(), "OrderTeleported"),  # a type added after this version
        (key, b'{"event_type": "OrderShipped", "order_id": 7}', "OrderShipped"),  # no valid event
        (key, shipped.model_dump_json().encode(), "OrderShipped"),
        (key, delivered.model_dump_json().encode(), "OrderDelivered"),
    ]
    await publish(broker.bootstrap_servers, records)
    database = tmp_path / "subscriber.sqlite3"

    with example_subscriber(broker.bootstrap_servers, database, tmp_path / "first.log") as log:
        await wait_for_line(log, f"applied OrderDelivered {delivered.event_id}")

    applied = rows(database, "SELECT event_id, event_type FROM applied_events ORDER BY rowid")
    assert applied == [
        (str(e.event_id), e.event_type) for e in (accepted, started, shipped, delivered)
    ]
    assert rows(database, "SELECT order_id, supplier, requester, status FROM order_status") == [
        (str(accepted.order_id), "WHEELS", "ASSEMBLY", "delivered")
    ]
    skipped = rows(database, 'SELECT "offset", event_type, reason FROM skipped_records ORDER BY 1')
    assert [(event_type, reason.split(":")[0]) for _, event_type, reason in skipped] == [
        ("OrderTeleported", "event type unknown to this version of the contracts"),
        ("OrderShipped", "not a valid event"),
    ]
    assert "order_id" in skipped[1][2]  # the reason names the field
    assert f"duplicate OrderAccepted {accepted.event_id}" in logged(log)

    # Kafka delivers at least once: the whole topic again (a new consumer group reads it
    # from the start) changes nothing
    with example_subscriber(broker.bootstrap_servers, database, tmp_path / "again.log") as log:
        await wait_for_line(log, f"duplicate OrderDelivered {delivered.event_id}")
    assert (
        rows(database, "SELECT event_id, event_type FROM applied_events ORDER BY rowid") == applied
    )
    assert rows(database, "SELECT status FROM order_status") == [("delivered",)]
