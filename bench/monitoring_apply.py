"""Monitoring's consume path with its real handlers: events per second and SQL statements per
event, against an embedded PostgreSQL, without a broker.

Leaf orders (placed, accepted, work started, shipped, delivered, invoiced, rated) and a few
chains (a parent waiting on its components: a pause of its fulfilment clock) are built with the
contracts' models and handed to the kit's ReliableConsumer as fetched records (`handle_batch`,
batches of 100 as the consumer fetches them: the inbox claim and the handlers in one
transaction), each record with its order's traceparent. Orders are interleaved as a steady
rate interleaves them: a window of orders in flight, each one step further per round.

    .venv/bin/python bench/monitoring_apply.py [--orders 2000] [--chains 100] [--batched]

Without --batched the handler takes one event at a time, as the service runs it today (each
event in its own trace); with it, the kit hands the handler each run of a batch at once, as
it will once a batch handler gets each event's trace context.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from monitoring.analytics.time_split_metrics import observe_wait_and_work
from monitoring.config import MonitoringSettings
from monitoring.reference.commands import load_owned_reference
from monitoring.reference.company import owned_reference
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Emitting
from supplychain_contracts import (
    ComponentsReceived,
    ComponentsRequested,
    FeedbackGiven,
    InvoiceIssued,
    OrderAccepted,
    OrderDelivered,
    OrderPlaced,
    OrderShipped,
    Priority,
    WorkStarted,
    follow_up,
)
from supplychain_contracts.envelope import Envelope
from supplychain_contracts.events import InvoiceLine, RequestedComponent
from supplychain_devstack.postgres import EmbeddedPostgres
from supplychain_devstack.processes import free_port
from supplychain_kit import db
from supplychain_kit.messaging.consumer import ReliableConsumer
from supplychain_kit.messaging.consumer_config import ConsumerConfig

# the test support package (no pytest in it): events as fetched records, the order factory
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import fetched
from support.events import order_placed

# the settings want an environment; the bench is one of its own
os.environ.setdefault("SUPPLYCHAIN_ENVIRONMENT", "test")
BATCH = 100
WINDOW = 200  # orders in flight at once
SUPPLIERS = ("WHEELS", "FRAMES", "ELECTRONICS", "PAINTSHOP")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def leaf_order(supplier: str, at: datetime, parent: OrderPlaced | None = None) -> list[Envelope]:
    placed = order_placed(
        parent=parent,
        occurred_at=at,
        producer="order-intake",
        supplier=supplier,
        employee_id="E-1",
        priority=Priority.STANDARD,
        sku="WHEEL-26",
        quantity=2,
        unit_price="40.00",
    )

    def then(model: type[Envelope], seconds: float, **fields: Any) -> Envelope:
        occurred = at + timedelta(seconds=seconds)
        return follow_up(placed, model, producer="fulfilment", occurred_at=occurred, **fields)

    return [
        placed,
        then(OrderAccepted, 2, priority=Priority.STANDARD),
        then(WorkStarted, 5),
        then(OrderShipped, 40, priority=Priority.STANDARD),
        then(OrderDelivered, 60, priority=Priority.STANDARD, lines=placed.lines),
        then(
            InvoiceIssued,
            61,
            invoice_id=uuid.uuid4(),
            period="2026-03",
            currency="EUR",
            lines=(
                InvoiceLine(
                    sku="WHEEL-26", quantity=2, unit_price=Decimal("40.00"), amount=Decimal("80")
                ),
            ),
            total=Decimal("80.00"),
        ),
        then(FeedbackGiven, 62, rating=4),
    ]


def chain(at: datetime) -> list[list[Envelope]]:
    """A parent order waiting on one component order: its events, and the component's."""
    parent = leaf_order("ASSEMBLY", at)
    top = parent[0]
    assert isinstance(top, OrderPlaced)
    component = leaf_order("FRAMES", at + timedelta(seconds=3), parent=top)
    sub_order = component[0].order_id
    wanted = RequestedComponent(order_id=sub_order, sku="FRAME-CITY", quantity=1, supplier="FRAMES")
    requested = follow_up(
        top,
        ComponentsRequested,
        producer="fulfilment",
        occurred_at=at + timedelta(seconds=3),
        components=(wanted,),
    )
    received = follow_up(
        top,
        ComponentsReceived,
        producer="fulfilment",
        occurred_at=at + timedelta(seconds=64),
        sub_order_ids=(sub_order,),
    )
    waiting = [*parent[:2], requested, received, *parent[2:]]
    return [waiting, component]


def interleaved(orders: list[list[Envelope]]) -> list[Envelope]:
    """A window of orders in flight, each one event further per round (as a steady rate
    interleaves them on the topics)."""
    out: list[Envelope] = []
    for start in range(0, len(orders), WINDOW):
        window = orders[start : start + WINDOW]
        for step in itertools.zip_longest(*window):
            out.extend(event for event in step if event is not None)
    return out


def traced(event: Envelope, trace_id: str) -> dict[str, str]:
    """The headers its producer gives the event: its order's trace, its type."""
    return {
        "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
        "event_type": event.event_type,
    }


class Statements:
    """Counts the statements the pool's connections run (asyncpg's query loggers)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, query: Any) -> None:
        self.count += 1


async def measure(url: str, orders: int, chains: int, batched: bool) -> None:
    pool = await db.create_pool(url, schema="monitoring", max_size=2, min_size=2)
    await db.migrate(
        pool, schema="monitoring", files=db.kit_migrations() + db.package_migrations("monitoring")
    )
    async with pool.acquire() as conn:
        owned = owned_reference(MonitoringSettings(), at=T0)
        await load_owned_reference(conn, owned, now=T0)
    built: list[list[Envelope]] = []
    for n in range(orders):
        built.append(leaf_order(SUPPLIERS[n % len(SUPPLIERS)], T0 + timedelta(seconds=n / 50)))
    for n in range(chains):
        built.extend(chain(T0 + timedelta(seconds=n)))
    traces = {o[0].order_id: uuid.uuid4().hex for o in built}
    events = interleaved(built)
    records = [
        fetched(event, offset, headers=traced(event, traces[event.order_id]))
        for offset, event in enumerate(events)
    ]
    consumer = ReliableConsumer(
        service="monitoring",
        topics=("all",),
        pool=pool,
        broker=None,  # type: ignore[arg-type]  # nothing is dead-lettered here
        apply=event_applier(Emitting(observe=observe_wait_and_work), batched=batched),
        config=ConsumerConfig(group_id="bench-monitoring"),
    )
    counter = Statements()
    held = [await pool.acquire() for _ in range(2)]
    for conn in held:
        conn.add_query_logger(counter)
    for conn in held:
        await pool.release(conn)
    started = time.perf_counter()
    for start in range(0, len(records), BATCH):
        await consumer.handle_batch(records[start : start + BATCH])
    elapsed = time.perf_counter() - started
    async with pool.acquire() as conn:
        stages = await conn.fetchval("SELECT count(*) FROM stages WHERE duration_s IS NOT NULL")
    await pool.close()
    print(
        f"{len(events)} events ({orders} leaf orders, {chains} chains) in {elapsed:.2f} s: "
        f"{len(events) / elapsed:,.0f} events/s{' (batched)' if batched else ''}, "
        f"{counter.count / len(events):.2f} SQL statements per event; {stages} stages closed"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--database-url", help="an existing PostgreSQL (default: embedded)")
    parser.add_argument(
        "--batched",
        action="store_true",
        help="hand the handler each run of a batch at once (what the kit's batch handlers do)",
    )
    args = parser.parse_args()
    if args.database_url:
        asyncio.run(measure(args.database_url, args.orders, args.chains, args.batched))
        return
    with tempfile.TemporaryDirectory() as tmp:
        postgres = EmbeddedPostgres(
            data_dir=Path(tmp) / "pgdata", port=free_port(), fast_unsafe=True
        )
        postgres.start()
        try:
            url = postgres.url()
            asyncio.run(_create(url))
            asyncio.run(measure(url, args.orders, args.chains, args.batched))
        finally:
            postgres.stop()


async def _create(url: str) -> None:
    """The database the URL names (the embedded cluster starts with `postgres` only)."""
    admin = url.rpartition("/")[0] + "/postgres"
    conn = await asyncpg.connect(admin)
    try:
        name = url.rpartition("/")[2]
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
