"""The example subscriber a department copies (examples/subscriber), run as its own process
against the real broker: typed fulfilment events applied exactly once by `event_id`, every
status-changing event followed (a cancellation settled or refused, a rejection, a blocked
order), an event type it does not know skipped, a record that is no event noted, the
partition moving on; Ctrl-C (SIGINT) stops it cleanly.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from supplychain_contracts import (
    CancellationRefused,
    OrderAccepted,
    OrderBlocked,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    WorkCancelled,
    WorkStarted,
    follow_up,
    topics,
)
from supplychain_contracts.envelope import Event
from supplychain_contracts.registry import EVENTS_BY_TOPIC
from supplychain_devstack.tansu import TANSU_CLIENT_ENV

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "subscriber"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def placed_order() -> OrderPlaced:
    return OrderPlaced(
        order_id=uuid.uuid4(),
        root_order_id=uuid.uuid4(),
        producer="order-intake",
        supplier="WHEELS",
        requester="ASSEMBLY",
        lines=(OrderLine(sku="WHEEL-28", quantity=2, unit_price=Decimal("38.50")),),
    )


def chain() -> list[Event]:
    placed = placed_order()
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


@dataclass
class Run:
    log: Path
    exit_code: int | None = None


@contextmanager
def example_subscriber(bootstrap: str, database: Path, log: Path) -> Iterator[Run]:
    """The example as a department runs it: its own process, its own consumer group; stopped
    as a person stops it, with Ctrl-C (SIGINT). Its exit code is on the run afterwards."""
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
    run = Run(log)
    try:
        yield run
    finally:
        process.send_signal(signal.SIGINT)
        try:
            run.exit_code = process.wait(timeout=15)
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


def status_changes() -> tuple[list[Event], dict[str, str]]:
    """Orders whose last event settles a cancellation, refuses one, rejects or blocks, and
    the status each is left in."""
    cancelled = follow_up(placed_order(), OrderAccepted, producer="fulfilment")
    shipped = follow_up(placed_order(), OrderShipped, producer="fulfilment")
    refused = follow_up(shipped, CancellationRefused, producer="fulfilment", reason="shipped")
    rejected = follow_up(placed_order(), OrderRejected, producer="fulfilment", reason="no stock")
    accepted = follow_up(placed_order(), OrderAccepted, producer="fulfilment")
    blocked = follow_up(accepted, OrderBlocked, producer="fulfilment", reason="frame rejected")
    events = [
        cancelled,
        follow_up(cancelled, WorkCancelled, producer="fulfilment", reason="plan changed"),
        shipped,
        refused,
        rejected,
        accepted,
        blocked,
    ]
    return events, {
        str(cancelled.order_id): "cancelled",
        str(shipped.order_id): "shipped",  # refused: the order goes on as it was
        str(rejected.order_id): "rejected",
        str(accepted.order_id): "blocked",
    }


def test_the_example_names_the_status_after_every_fulfilment_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fulfilment event added to the contracts fails here until the example decides which
    status it leaves (None: recorded, no status moves)."""
    monkeypatch.syspath_prepend(str(EXAMPLE))  # the example imports its store by bare name
    spec = importlib.util.spec_from_file_location("example_subscriber", EXAMPLE / "subscriber.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, example)  # its dataclasses look themselves up
    try:
        spec.loader.exec_module(example)
    finally:
        sys.modules.pop("store", None)
    assert set(example.STATUS_AFTER) == set(EVENTS_BY_TOPIC[topics.FULFILMENT])


async def test_the_example_applies_each_event_once_and_skips_what_it_does_not_know(
    broker, tmp_path: Path
) -> None:
    chain_events = chain()
    accepted, started, shipped, delivered = chain_events
    key = str(accepted.order_id).encode()
    unknown = {
        **json.loads(shipped.model_dump_json()),
        "event_id": str(uuid.uuid4()),
        "event_type": "OrderTeleported",
        "teleporter": "T-1",
    }
    changes, status_left = status_changes()
    records = [
        (key, accepted.model_dump_json().encode(), "OrderAccepted"),
        (key, started.model_dump_json().encode(), "WorkStarted"),
        (key, accepted.model_dump_json().encode(), "OrderAccepted"),  # delivered twice
        (key, json.dumps(unknown).encode(), "OrderTeleported"),  # a type added after this version
        (key, b'{"event_type": "OrderShipped", "order_id": 7}', "OrderShipped"),  # no valid event
        (key, shipped.model_dump_json().encode(), "OrderShipped"),
        (key, delivered.model_dump_json().encode(), "OrderDelivered"),
        *[(str(e.order_id).encode(), e.model_dump_json().encode(), e.event_type) for e in changes],
    ]
    await publish(broker.bootstrap_servers, records)
    database = tmp_path / "subscriber.sqlite3"

    with example_subscriber(broker.bootstrap_servers, database, tmp_path / "first.log") as run:
        for last in (delivered, *changes):
            await wait_for_line(run.log, f"applied {last.event_type} {last.event_id}")
    # Ctrl-C stops it cleanly: exit 0, its SQLite file closed, no traceback
    assert run.exit_code == 0, logged(run.log)
    assert "Traceback" not in logged(run.log)

    applied = rows(database, "SELECT event_id, event_type FROM applied_events ORDER BY rowid")
    assert [row for row in applied if row[0] in {str(e.event_id) for e in chain_events}] == [
        (str(e.event_id), e.event_type) for e in chain_events
    ]  # one partition: in the order published
    assert len(applied) == len(chain_events) + len(changes)
    assert rows(
        database,
        f"SELECT order_id, supplier, requester, status FROM order_status "
        f"WHERE order_id = '{accepted.order_id}'",
    ) == [(str(accepted.order_id), "WHEELS", "ASSEMBLY", "delivered")]
    statuses = dict(rows(database, "SELECT order_id, status FROM order_status"))
    assert {order_id: statuses[order_id] for order_id in status_left} == status_left
    skipped = rows(database, 'SELECT "offset", event_type, reason FROM skipped_records ORDER BY 1')
    assert [(event_type, reason.split(":")[0]) for _, event_type, reason in skipped] == [
        ("OrderTeleported", "event type unknown to this version of the contracts"),
        ("OrderShipped", "not a valid event"),
    ]
    assert "order_id" in skipped[1][2]  # the reason names the field
    assert f"duplicate OrderAccepted {accepted.event_id}" in logged(run.log)

    # Kafka delivers at least once: the whole topic again (a new consumer group reads it
    # from the start) changes nothing
    with example_subscriber(broker.bootstrap_servers, database, tmp_path / "again.log") as run:
        await wait_for_line(run.log, f"duplicate OrderDelivered {delivered.event_id}")
        for last in changes:
            await wait_for_line(run.log, f"duplicate {last.event_type} {last.event_id}")
    assert run.exit_code == 0, logged(run.log)
    assert (
        rows(database, "SELECT event_id, event_type FROM applied_events ORDER BY rowid") == applied
    )
    assert dict(rows(database, "SELECT order_id, status FROM order_status")) == statuses
