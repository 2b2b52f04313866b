"""A service's consume path with its real handlers (monitoring or invoicing): events per
second and SQL statements per event, against an embedded PostgreSQL, without a broker.

Leaf orders (placed, accepted, work started, shipped, delivered, invoiced, rated) and a few
chains (a parent waiting on its components: a pause of its fulfilment clock) are built with the
contracts' models and handed to the kit's ReliableConsumer as fetched records (`handle_batch`,
batches of 100 as the consumer fetches them: the inbox claim and the handlers in one
transaction), each record with its order's traceparent. Orders are interleaved as a steady
rate interleaves them: a window of orders in flight, each one step further per round. The
service is fed the records of the topics it consumes, with the handlers its composition root
registers (invoicing: each order event noted as a dispute's evidence, then its own effect).

With `--troubles` (invoicing's default) the stream is a mix of what goes wrong too: orders
between legal entities and employee purchases, SLA warnings and breaches (some before the
delivery, some after it, a few retracted), cancellations settled by the supplier, and the
owner re-publishing a department and a rate now and then. Invoicing is given the sample
company's reference events first, as its owner publishes them at start.

    .venv/bin/python bench/consume_apply.py --service invoicing [--orders 2000] [--chains 100]
    .venv/bin/python bench/consume_apply.py --service monitoring [--batched]

Records come in the order of the orders' steps, the topics interleaved; with --by-topic each
batch hands over each topic's records together, as a fetch of one partition per topic does
(the consumer's batches in `make run`).

Monitoring with --batched takes each run of a batch at once, as the service registers it
(monitoring.main); without it one event at a time, as it did before (each event in its own
trace).

--console ROUNDS (monitoring) then times the operator console's reads on the history the run
left: each query of its overview, and the overview and newest chain fragments rendered.

--kit-alone runs the same records through the kit's consumer with a subscriber that does
nothing: the floor under the service's handlers.

The wall time is set beside the process's CPU time: what is not CPU of this process is the
database's (and the round trips to it). A before/after on the same machine: run it again with
another source tree of the service first on the path, e.g.
`PYTHONPATH=/tmp/old/services/invoicing/src .venv/bin/python bench/consume_apply.py ...`
(`git archive` of an older commit), taking turns with this tree.
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
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
    SlaBreachRetracted,
    SlaWarning,
    Stage,
    WorkCancelled,
    WorkStarted,
    follow_up,
    topics,
)
from supplychain_contracts.company import FxRate, sample_company
from supplychain_contracts.envelope import Envelope, Event
from supplychain_contracts.events import InvoiceLine, OrderParties, RequestedComponent
from supplychain_contracts.reference import department_defined, fx_rate_defined
from supplychain_devstack.postgres import EmbeddedPostgres
from supplychain_devstack.processes import free_port
from supplychain_kit import db
from supplychain_kit.messaging.consumer import ReliableConsumer
from supplychain_kit.messaging.consumer_config import ConsumerConfig
from supplychain_kit.messaging.dispatch import ApplyEvent, dispatch

# the test support package (no pytest in it): events as fetched records, the order factory
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import fetched, reference_events
from support.events import order_placed, sla_breached

# the settings want an environment; the bench is one of its own
os.environ.setdefault("SUPPLYCHAIN_ENVIRONMENT", "test")
BATCH = 100
WINDOW = 200  # orders in flight at once
SUPPLIERS = ("WHEELS", "FRAMES", "ELECTRONICS", "PAINTSHOP")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWNER = "order-intake"  # the owner of the reference data


# --- the stream ----------------------------------------------------------------------------


def leaf_order(
    supplier: str,
    at: datetime,
    parent: OrderPlaced | None = None,
    *,
    requester: str | None = None,
    employee_id: str | None = "E-1",
) -> list[Envelope]:
    placed = order_placed(
        parent=parent,
        occurred_at=at,
        producer=OWNER,
        supplier=supplier,
        requester=requester,
        employee_id=employee_id,
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


def chain(at: datetime, *, requester: str | None = None) -> list[list[Envelope]]:
    """A parent order waiting on one component order: its events, and the component's."""
    parent = leaf_order("ASSEMBLY", at, requester=requester)
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


def troubled(n: int, events: list[Envelope]) -> list[Envelope]:
    """The n-th leaf order's events with what goes wrong to some orders: every 10th breaches
    its fulfilment stage (warned first), before its delivery, or after it (every 40th); every
    30th breach is retracted; every 50th order is cancelled once its work started."""
    placed = events[0]
    assert isinstance(placed, OrderPlaced)
    if n % 50 == 49:
        cancelled = follow_up(
            placed,
            WorkCancelled,
            producer="fulfilment",
            occurred_at=placed.occurred_at + timedelta(seconds=20),
            reason="no longer needed",
        )
        return [*events[:3], cancelled]
    if n % 10 != 0:
        return events
    deadline = placed.occurred_at + timedelta(seconds=30)
    breach = sla_breached(
        placed,
        stage=Stage.FULFILMENT,
        deadline=deadline,
        target_seconds=25,
        occurred_at=deadline,
        service_credit_pct=Decimal("5"),
    )
    warning = follow_up(
        placed,
        SlaWarning,
        producer="monitoring",
        occurred_at=deadline - timedelta(seconds=5),
        stage=Stage.FULFILMENT,
        started_at=breach.started_at,
        deadline=deadline,
        target_seconds=25,
    )
    sla = [warning, breach]
    if n % 30 == 0:
        retracted = follow_up(
            placed,
            SlaBreachRetracted,
            producer="monitoring",
            occurred_at=deadline + timedelta(seconds=70),
            stage=Stage.FULFILMENT,
            started_at=breach.started_at,
            deadline=deadline,
            target_seconds=25,
            breach_event_id=breach.event_id,
            ended_at=deadline - timedelta(seconds=1),
        )
        sla.append(retracted)
    if n % 40 == 0:  # the breach is read after the delivery: credited at once
        return [*events[:5], *sla, *events[5:]]
    return [*events[:3], *sla, *events[3:]]


def interleaved(orders: list[list[Envelope]]) -> list[Envelope]:
    """A window of orders in flight, each one event further per round (as a steady rate
    interleaves them on the topics)."""
    out: list[Envelope] = []
    for start in range(0, len(orders), WINDOW):
        window = orders[start : start + WINDOW]
        for step in itertools.zip_longest(*window):
            out.extend(event for event in step if event is not None)
    return out


def order_stream(orders: int, chains: int, *, troubles: bool) -> list[Event]:
    """The order events, interleaved; with `troubles` the mix of what goes wrong and the
    owner's re-published reference data now and then (every 500 orders)."""
    built: list[list[Envelope]] = []
    for n in range(orders):
        at = T0 + timedelta(seconds=n / 50)
        supplier = SUPPLIERS[n % len(SUPPLIERS)]
        if not troubles:
            built.append(leaf_order(supplier, at))
        elif n % 20 == 7:  # an employee's purchase from the shop
            shop = leaf_order(supplier, at, requester="EMPLOYEE_SHOP", employee_id="E-1001")
            built.append(troubled(n, shop))
        else:  # a third across legal entities (NC-RETAIL orders from NC-MFG)
            requester = "RETAIL_OPS" if n % 3 == 0 else "ASSEMBLY"
            built.append(
                troubled(n, leaf_order(supplier, at, requester=requester, employee_id=None))
            )
    for n in range(chains):
        at = T0 + timedelta(seconds=n)
        built.extend(chain(at, requester="RETAIL_OPS" if troubles else None))
    events: list[Event] = list(interleaved(built))
    if troubles:
        events = with_reference_changes(events, every=500 * len(built[0]))
    return events


def with_reference_changes(events: list[Event], *, every: int) -> list[Event]:
    """The owner re-publishing a department (unchanged) and a rate every `every` events."""
    company = sample_company()
    out: list[Event] = []
    for n, event in enumerate(events):
        if n and n % every == 0:
            at = T0 + timedelta(seconds=n / 300)
            out.append(department_defined(company.departments[n % 5], producer=OWNER))
            rate = FxRate(
                base="EUR", quote="USD", rate=Decimal("1.08"), valid_from=date(2026, 3, 1)
            )
            out.append(fx_rate_defined(rate, producer=OWNER, occurred_at=at))
        out.append(event)
    return out


def traced(event: Event, trace_id: str) -> dict[str, str]:
    """The headers its producer gives the event: its order's trace, its type."""
    return {
        "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
        "event_type": event.event_type,
    }


# --- the services --------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    """What the bench needs of a service: its schema and topics, the reference data it runs
    with, its subscriber, and a summary of what the run left."""

    name: str
    topics: tuple[str, ...]
    start: Callable[[asyncpg.Connection], Awaitable[list[Event]]]  # its reference events
    applier: Callable[[bool], ApplyEvent]
    summary: Callable[[asyncpg.Connection], Awaitable[str]]
    troubles: bool  # the default mix


async def _monitoring_start(conn: asyncpg.Connection) -> list[Event]:
    from monitoring.config import MonitoringSettings
    from monitoring.reference.commands import load_owned_reference
    from monitoring.reference.company import owned_reference

    await load_owned_reference(conn, owned_reference(MonitoringSettings(), at=T0), now=T0)
    return []


def _monitoring_applier(batched: bool) -> ApplyEvent:
    from monitoring.analytics.time_split_metrics import observe_wait_and_work
    from monitoring.timeline.handlers import event_applier
    from monitoring.timeline.sinks import Emitting

    return event_applier(Emitting(observe=observe_wait_and_work), batched=batched)


async def _monitoring_summary(conn: asyncpg.Connection) -> str:
    stages = await conn.fetchval("SELECT count(*) FROM stages WHERE duration_s IS NOT NULL")
    return f"{stages} stages closed"


async def _invoicing_start(conn: asyncpg.Connection) -> list[Event]:
    return list(reference_events(sample_company(), producer=OWNER))


def _invoicing_applier(batched: bool) -> ApplyEvent:
    from invoicing.evidence import recording
    from invoicing.handlers import apply_event

    return recording(apply_event)  # as invoicing.main registers it


async def _invoicing_summary(conn: asyncpg.Connection) -> str:
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM invoices) AS invoices,
                  (SELECT coalesce(sum(total), 0) FROM invoices) AS invoiced,
                  (SELECT count(*) FROM credit_notes) AS notes,
                  (SELECT coalesce(sum(amount), 0) FROM credit_notes) AS credited,
                  (SELECT count(*) FROM pending_credits) AS waiting,
                  (SELECT coalesce(sum(debit - credit), 0) FROM postings) AS unbalanced"""
    )
    return (
        f"{row['invoices']} invoices ({row['invoiced']}), {row['notes']} credit notes "
        f"({row['credited']}), {row['waiting']} claims waiting, ledger off by {row['unbalanced']}"
    )


SERVICES = {
    "monitoring": Service(
        "monitoring",
        topics.ALL_TOPICS,
        _monitoring_start,
        _monitoring_applier,
        _monitoring_summary,
        troubles=False,
    ),
    "invoicing": Service(
        "invoicing",
        (topics.FULFILMENT, topics.SLA, topics.REFERENCE),
        _invoicing_start,
        _invoicing_applier,
        _invoicing_summary,
        troubles=True,
    ),
}


# --- the measurement -----------------------------------------------------------------------


class Statements:
    """Counts the statements the pool's connections run (asyncpg's query loggers)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, query: Any) -> None:
        self.count += 1


async def measure(
    url: str,
    service: Service,
    orders: int,
    chains: int,
    *,
    batched: bool,
    troubles: bool,
    by_topic: bool,
    floor: bool,
    console_rounds: int = 0,
) -> None:
    schema = service.name
    pool = await db.create_pool(url, schema=schema, max_size=2, min_size=2)
    await db.migrate(pool, schema=schema, files=db.kit_migrations() + db.package_migrations(schema))
    async with pool.acquire() as conn:
        reference = await service.start(conn)
    stream = [
        e for e in order_stream(orders, chains, troubles=troubles) if _topic(e) in service.topics
    ]
    traces: dict[uuid.UUID, str] = {}
    records = [
        fetched(
            event,
            offset,
            headers=traced(
                event,
                traces.setdefault(getattr(event, "order_id", event.event_id), uuid.uuid4().hex),
            ),
        )
        for offset, event in enumerate([*reference, *stream])
    ]
    consumer = ReliableConsumer(
        service=service.name,
        topics=service.topics,
        pool=pool,
        broker=None,  # type: ignore[arg-type]  # nothing is dead-lettered here
        apply=_nothing_applied() if floor else service.applier(batched),
        config=ConsumerConfig(group_id=f"bench-{service.name}"),
    )
    for start in range(0, len(reference), BATCH):  # the owner's start-up publish, untimed
        await consumer.handle_batch(records[start : start + BATCH])
    records = records[len(reference) :]
    counter = Statements()
    held = [await pool.acquire() for _ in range(2)]
    for conn in held:
        conn.add_query_logger(counter)
    for conn in held:
        await pool.release(conn)
    batches = [records[start : start + BATCH] for start in range(0, len(records), BATCH)]
    if by_topic:
        batches = [grouped_by_topic(batch) for batch in batches]
    started, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        await consumer.handle_batch(batch)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    async with pool.acquire() as conn:
        summary = await service.summary(conn)
        console = await console_reads(conn, rounds=console_rounds) if console_rounds else []
    await pool.close()
    print(
        f"{service.name}: {len(records)} events ({orders} leaf orders, {chains} chains"
        f"{', troubles' if troubles else ''}{', fetched by topic' if by_topic else ''}"
        f"{', the kit alone' if floor else ''}) "
        f"in {elapsed:.2f} s: "
        f"{len(records) / elapsed:,.0f} events/s{' (batched)' if batched else ''}, "
        f"{counter.count / len(records):.2f} SQL statements per event; "
        f"this process's CPU {cpu / elapsed:.0%} of the wall time; {summary}"
    )
    for line in console:
        print(line)


async def console_reads(conn: asyncpg.Connection, *, rounds: int) -> list[str]:
    """The operator console's overview and its newest chain read `rounds` times from the
    history the run left, as of an hour after its first order (the month's scorecards and
    today's alarms cover it): the median and the highest milliseconds of each part, then of
    the whole overview with its page fragment rendered (the broker's sizes not included)."""
    from monitoring.analytics import scorecards
    from monitoring.analytics import store as analytics
    from monitoring.console import store
    from monitoring.console.model import KEYLESS
    from monitoring.sla import watermark_store
    from monitoring.sla.watermarks import VerdictRule
    from monitoring.timeline import dispute_store

    now, everyone = T0 + timedelta(hours=1), KEYLESS.visibility
    start, end = scorecards.period_bounds(now.strftime("%Y-%m"))
    newest = await store.recent_chains(conn, limit=1, visible=everyone)
    parts: dict[str, Callable[[], Awaitable[Any]]] = {
        "recent chains": lambda: store.recent_chains(conn, limit=15, visible=everyone),
        "open stages": lambda: store.open_stages(conn, limit=25, visible=everyone),
        "alarms today": lambda: store.alarms_since(conn, since=T0.replace(hour=0)),
        "scorecards of the month": lambda: scorecards.for_period(
            conn, period=now.strftime("%Y-%m"), now=now
        ),
        "  delivered splits": lambda: scorecards.delivered_splits(
            conn, start=start, end=end, now=now
        ),
        "  orders handled": lambda: analytics.orders_handled(conn, start=start, end=end),
        "  stage outcomes": lambda: analytics.stage_outcomes(conn, start=start, end=end, now=now),
        "  rejections": lambda: analytics.event_counts(
            conn, event_type="OrderRejected", start=start, end=end
        ),
        "  satisfaction": lambda: analytics.satisfaction(conn, start=start, end=end),
        "held verdicts": lambda: watermark_store.held_verdicts(conn, rule=VerdictRule(), now=now),
        "unsettled disputes": lambda: dispute_store.unsettled(conn, limit=25, visible=everyone),
        "overview, rendered": lambda: _overview_fragment(conn, now),
    }
    if newest:
        parts["newest chain, rendered"] = lambda: _chain_fragment(conn, newest[0]["order_id"], now)
    lines = [f"console reads ({rounds} rounds, ms: median / highest):"]
    for name, read in parts.items():
        took = []
        for _ in range(rounds):
            started = time.perf_counter()
            await read()
            took.append((time.perf_counter() - started) * 1000)
        took.sort()
        lines.append(f"  {name:<26} {took[len(took) // 2]:8.1f} / {took[-1]:8.1f}")
    return lines


async def _overview_fragment(conn: asyncpg.Connection, now: datetime) -> str:
    from monitoring.console import api
    from monitoring.console.model import FINISHED, KEYLESS
    from monitoring.sla.watermarks import VerdictRule

    view = await api.overview(
        conn, now=now, dead_letters={}, lag=[], verdicts=VerdictRule(), audience=KEYLESS
    )
    return api.templates.get_template("overview.html").render(finished=FINISHED, view=view)


async def _chain_fragment(conn: asyncpg.Connection, order_id: uuid.UUID, now: datetime) -> str:
    from monitoring.console import api
    from monitoring.console.model import FINISHED, KEYLESS

    chain = await api.waterfall(conn, order_id, tracing_ui_url=None, now=now, audience=KEYLESS)
    return api.templates.get_template("chain.html").render(finished=FINISHED, chain=chain)


def _nothing_applied() -> ApplyEvent:
    """A subscriber of every order event that does nothing: the kit's consume path alone
    (parse, inbox claim, spans, transaction), the floor under any service's handlers."""

    async def nothing(conn: asyncpg.Connection, event: Event) -> None:
        return None

    return dispatch({OrderParties: nothing})


def grouped_by_topic(batch: list[Any]) -> list[Any]:
    """The batch as a fetch of one partition per topic hands it over: each partition's
    records together (in their order), partitions in the order they first came."""
    first = {topic: n for n, topic in enumerate(dict.fromkeys(r.topic for r in batch))}
    return sorted(batch, key=lambda record: first[record.topic])


def _topic(event: Event) -> str:
    from supplychain_contracts.registry import topic_for

    return topic_for(event)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", choices=sorted(SERVICES), default="monitoring")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--database-url", help="an existing PostgreSQL (default: embedded)")
    parser.add_argument(
        "--batched",
        action="store_true",
        help="monitoring: hand the handler each run of a batch at once",
    )
    parser.add_argument(
        "--troubles",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="breaches, retractions, cancellations, parties across entities, reference "
        "changes (default: on for invoicing, off for monitoring)",
    )
    parser.add_argument(
        "--by-topic",
        action="store_true",
        help="each batch's records grouped by topic, as a fetch of one partition per topic "
        "hands them over (default: interleaved as the orders' steps come)",
    )
    parser.add_argument(
        "--kit-alone",
        action="store_true",
        help="the same records through the kit's consumer with a subscriber that does "
        "nothing: the floor under the service's handlers",
    )
    parser.add_argument(
        "--console",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="monitoring: then time the operator console's reads (each part of its overview, "
        "the page fragments) ROUNDS times on the history the run left",
    )
    args = parser.parse_args()
    service = SERVICES[args.service]
    troubles = service.troubles if args.troubles is None else args.troubles

    def run(url: str) -> None:
        asyncio.run(
            measure(
                url,
                service,
                args.orders,
                args.chains,
                batched=args.batched,
                troubles=troubles,
                by_topic=args.by_topic,
                floor=args.kit_alone,
                console_rounds=args.console if args.service == "monitoring" else 0,
            )
        )

    if args.database_url:
        run(args.database_url)
        return
    with tempfile.TemporaryDirectory() as tmp:
        postgres = EmbeddedPostgres(
            data_dir=Path(tmp) / "pgdata", port=free_port(), fast_unsafe=True
        )
        postgres.start()
        try:
            url = postgres.url()
            asyncio.run(_create(url))
            run(url)
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
