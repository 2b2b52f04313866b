"""Failover: replicas of every consumer service in one consumer group, a replica SIGKILLed in
the middle of a load, its partitions, its outbox relay and its SLA clocks taken over by the
others. One stack for the module (embedded Tansu, three partitions per topic).

What the relay promises on a crash is at-least-once: a batch the broker took before the
killed leader marked it published is sent again by the next leader (the consumers' inboxes
absorb it). So every record counted here is exactly once, except that an event still
unpublished in the killed replica's outbox at the moment it died may appear twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from supplychain_contracts import topics
from supplychain_contracts.company import sample_company
from supplychain_contracts.topics import dead_letter_topic
from supplychain_devstack.processes import free_port
from supplychain_devstack.tansu import EmbeddedTansu
from supplychain_devstack.topics import create_topics
from support import (
    auth,
    eventually,
    read_records,
    read_to_end,
    reference_counts,
    wait_for_reference,
)
from support.replicas import (
    SCHEMAS,
    ReplicaStack,
    applied,
    event_counts,
    facts,
    log_lines,
    metric,
    outbox_event_ids,
    owner_of_port,
    relay_leader,
    sla_clock_state,
    stack_env,
    unpublished_event_ids,
    wait_drained,
)

pytestmark = pytest.mark.integration

# (requester, supplier, sku): parts without a bill of materials, so one order = one chain
PAIRS = (("ASSEMBLY", "WHEELS", "WHEEL-28"), ("FRAMES", "METALWORKS", "TUBE-AL-6061"))
ORDERS = 160
KILL_AFTER = 60  # orders placed before the replicas are killed
STAGES = {"acceptance", "fulfilment", "delivery", "invoicing", "end_to_end"}
CHAIN = ["OrderAccepted", "WorkStarted", "OrderShipped", "OrderDelivered"]
SLOW = {stage: 600.0 for stage in STAGES}
# LOGISTICS works by hand (its autopilot is off): its orders wait in acceptance, whose clock
# warns after 1.5 s and breaches after 3 s
SLA_SUPPLIER, SLA_TARGET = "LOGISTICS", 3.0
POLICIES = [
    {"supplier": "WHEELS", "targets_seconds": SLOW},
    {"supplier": "METALWORKS", "targets_seconds": SLOW},
    {
        "supplier": SLA_SUPPLIER,
        "targets_seconds": {**SLOW, "acceptance": SLA_TARGET},
        "warning_threshold": 0.5,
    },
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, database: Any) -> Iterator[ReplicaStack]:
    import os

    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.skip("freezes the broker: only possible with the embedded Tansu")
    root: Path = tmp_path_factory.mktemp("failover")
    tansu = EmbeddedTansu(port=free_port(), log_file=root / "tansu.log")
    tansu.start()
    asyncio.run(create_topics(tansu.bootstrap_servers, partitions=3))
    env = stack_env(
        tansu.bootstrap_servers,
        database.new_database(),
        FULFILMENT_AUTOPILOT="true",  # in both replicas: items are claimed FOR UPDATE SKIP LOCKED
        FULFILMENT_AUTOPILOT_ACCEPT_DELAY_S="0.2",
        FULFILMENT_AUTOPILOT_START_DELAY_S="0",
        FULFILMENT_AUTOPILOT_SHIP_DELAY_S="1.0",  # items in flight when the broker freezes
        FULFILMENT_AUTOPILOT_RECEIPT_DELAY_S="0.3",
        FULFILMENT_AUTOPILOT_DEPARTMENTS=json.dumps({SLA_SUPPLIER: {"enabled": False}}),
        MONITORING_SLA_POLICIES_JSON=json.dumps(POLICIES),
        MONITORING_SLA_SCAN_INTERVAL_MS="100",
        MONITORING_SLA_VERDICT_RELAY_GRACE_SECONDS="0.2",
        # a frozen replica's transaction (its relay's leadership) is ended after 5 s, or
        # after 20 s when it froze in the middle of a query (its transaction 'active'); above
        # the relay's 15 s send timeout, which a frozen broker makes it wait
        DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS="5000",
        DATABASE_TRANSACTION_TIMEOUT_MS="20000",
    )
    replicas = ReplicaStack(tansu=tansu, database_url=env["DATABASE_URL"], env=env, log_dir=root)
    try:
        replicas.start("order-intake")  # publishes the company's reference data
        for name in ("fulfilment", "invoicing", "monitoring"):
            replicas.start(name, 2)
        counts = reference_counts(sample_company())
        for name in ("fulfilment", "invoicing"):
            for service in replicas.of(name):
                wait_for_reference(service.url, at_least=counts, timeout=60)
        yield replicas
    finally:
        replicas.stop()


async def place(client: httpx.AsyncClient, intake: str, n: int) -> str:
    requester, supplier, sku = PAIRS[n % len(PAIRS)]
    response = await client.post(
        f"{intake}/v1/orders",
        json={"requester": requester, "supplier": supplier, "lines": [{"sku": sku, "quantity": 1}]},
        headers={**auth(requester), "Idempotency-Key": f"failover-{uuid.uuid4()}"},
    )
    assert response.status_code == 201, response.text
    order_id: str = response.json()["order_id"]
    return order_id


async def wait_all_consuming(stack: ReplicaStack, timeout: float = 30) -> None:
    """Every replica has applied records of its input: each owns partitions."""
    inputs = {
        "fulfilment": topics.ORDERS,
        "invoicing": topics.FULFILMENT,
        "monitoring": topics.FULFILMENT,
    }
    deadline = time.monotonic() + timeout
    while True:
        idle = [
            f"{s.name}@{s.port}"
            for name, topic in inputs.items()
            for s in stack.of(name)
            if await asyncio.to_thread(applied, s, topic) == 0
        ]
        if not idle:
            return
        assert time.monotonic() < deadline, f"replicas that never consumed: {idle}"
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def relay_leader_stuck(stack: ReplicaStack, name: str) -> AsyncIterator[Any]:
    """The replica of `name` whose relay has sent a batch to the broker and cannot mark it
    published: the oldest unpublished outbox row is locked here until the block ends."""
    schema = SCHEMAS[name]
    blocker = await asyncpg.connect(stack.database_url)
    probe = await asyncpg.connect(stack.database_url)
    try:
        deadline = time.monotonic() + 10
        while True:
            transaction = blocker.transaction()
            await transaction.start()
            locked = await blocker.fetchval(
                f"""SELECT id FROM "{schema}".outbox WHERE published_at IS NULL
                    ORDER BY id LIMIT 1 FOR UPDATE"""
            )
            if locked is not None:
                break
            await transaction.rollback()
            assert time.monotonic() < deadline, f"{name} never had an unpublished row"
            await asyncio.sleep(0.02)
        try:
            while (port := await relay_leader(probe, schema)) is None:
                assert time.monotonic() < deadline, f"no relay of {name} reached row {locked}"
                await asyncio.sleep(0.02)
            owner = await asyncio.to_thread(owner_of_port, stack.of(name), port)
            assert owner is not None, f"no replica of {name} has the connection from {port}"
            yield owner
        finally:
            await transaction.rollback()
    finally:
        await blocker.close()
        await probe.close()


async def kill_frozen(stack: ReplicaStack, victims: list[Any]) -> dict[str, set[str]]:
    """Freeze the victims, note what their services had not published yet, SIGKILL them."""
    for victim in victims:
        victim.pause()
    in_flight = {
        v.name: await unpublished_event_ids(stack.database_url, SCHEMAS[v.name]) for v in victims
    }
    for victim in victims:
        stack.kill(victim)
    return in_flight


def assert_once(records: list[Any], in_flight: set[str], what: str) -> None:
    """Each event's record once; twice only for an event the killed replica had not marked
    published when it died (the relay's at-least-once on a crash)."""
    repeated = {e: n for e, n in event_counts(records).items() if n > 1}
    assert all(n == 2 for n in repeated.values()), f"{what}: {repeated}"
    assert set(repeated) <= in_flight, f"{what}: repeated though published before the kill"


async def test_killed_replicas_partitions_and_relay_are_taken_over_every_order_once(
    stack: ReplicaStack,
) -> None:
    started = time.monotonic()
    intake = stack.of("order-intake")[0].url
    order_ids: list[str] = []
    counter = itertools.count()

    async def load(client: httpx.AsyncClient, until: int) -> None:
        async def worker() -> None:
            while (n := next(counter)) < until:
                order_ids.append(await place(client, intake, n))
                await asyncio.sleep(0.02)

        await asyncio.gather(*(worker() for _ in range(6)))

    async with httpx.AsyncClient(timeout=30) as client:
        await load(client, KILL_AFTER)
        await wait_all_consuming(stack)  # so each replica owns partitions when it dies
        counter = itertools.count(len(order_ids))
        rest = asyncio.create_task(load(client, ORDERS))
        # the fulfilment replica that sent a batch and has not marked it published dies,
        # and a replica of each other consumer service with it
        async with relay_leader_stuck(stack, "fulfilment") as leader:
            victims = [leader, stack.of("invoicing")[0], stack.of("monitoring")[0]]
            in_flight = await kill_frozen(stack, victims)
        killed_at = time.monotonic()
        await rest
    assert len(set(order_ids)) == ORDERS
    assert all(len(stack.of(n)) == 1 for n in ("fulfilment", "invoicing", "monitoring"))

    # every order is invoiced, once, by the survivors
    await wait_invoiced(stack.bootstrap, order_ids, timeout=60)
    invoiced_after = time.monotonic() - killed_at
    await wait_drained(stack.database_url, SCHEMAS.values())
    handoffs = await wait_timed(stack.of("monitoring")[0].url, order_ids, timeout=30)

    records = await read_to_end(
        stack.bootstrap,
        [topics.ORDERS, topics.FULFILMENT, topics.INVOICING, topics.SLA]
        + [dead_letter_topic(t) for t in (topics.ORDERS, topics.FULFILMENT, topics.INVOICING)],
    )
    by_topic: dict[str, list[Any]] = {}
    for r in records:
        by_topic.setdefault(r.topic, []).append(r)
    assert not [t for t in by_topic if t.endswith(".dlq")], "nothing dead-lettered"
    known = set(order_ids)
    placed = facts(by_topic[topics.ORDERS])
    chain = facts(by_topic[topics.FULFILMENT])
    invoices = facts(by_topic[topics.INVOICING])
    for order_id in order_ids:
        assert len(placed[(order_id, "OrderPlaced")]) == 1
        for event_type in CHAIN:  # one transition, one event
            assert len(chain.get((order_id, event_type), ())) == 1, (order_id, event_type)
        assert len(invoices.get((order_id, "InvoiceIssued"), ())) == 1, order_id
    assert {o for o, _ in chain} == known and {o for o, _ in invoices} == known
    assert {t for _, t in chain} == set(CHAIN) and {t for _, t in invoices} == {"InvoiceIssued"}
    assert not [r for r in by_topic.get(topics.SLA, []) if r.json["order_id"] in known]
    assert_once(by_topic[topics.ORDERS], set(), "orders")  # order intake was never killed
    assert_once(by_topic[topics.FULFILMENT], in_flight["fulfilment"], "fulfilment")
    assert_once(by_topic[topics.INVOICING], in_flight["invoicing"], "invoicing")
    # each record on a topic is an outbox row (the survivor published the dead leader's rows)
    emitted = await outbox_event_ids(stack.database_url, "fulfilment")
    assert set(event_counts(by_topic[topics.FULFILMENT])) == set(emitted)

    # one invoice row per order in invoicing's store, through its API
    async with httpx.AsyncClient(base_url=stack.of("invoicing")[0].url, timeout=10) as client:
        rows: list[dict[str, Any]] = []
        for requester in {p[0] for p in PAIRS}:
            response = await client.get(
                "/v1/invoices", params={"limit": 500}, headers=auth(requester)
            )
            assert response.status_code == 200
            rows += [i for i in response.json() if i["requester"] == requester]
    assert Counter(i["order_id"] for i in rows) == Counter({o: 1 for o in order_ids})

    # each stage of each order timed once, and closed
    for order_id, stages in handoffs.items():
        assert Counter(h["stage"] for h in stages) == Counter(STAGES), order_id
        assert all(h["duration_s"] is not None for h in stages), order_id

    took = time.monotonic() - started
    print(
        f"{ORDERS} orders, replicas killed after {KILL_AFTER}: all invoiced "
        f"{invoiced_after:.1f}s after the kill; in flight at the kill: "
        f"{ {k: len(v) for k, v in in_flight.items()} }; test {took:.1f}s"
    )


async def wait_invoiced(bootstrap: str, order_ids: list[str], *, timeout: float) -> None:
    """Until invoicing's topic holds an InvoiceIssued for every order."""
    wanted = set(order_ids)

    def done(records: list[Any]) -> bool:
        seen = {
            r.json["order_id"]
            for r in records
            if r.headers.get("event_type") == "InvoiceIssued" and r.value.startswith(b"{")
        }
        return wanted <= seen

    await read_records(bootstrap, [topics.INVOICING], until=done, timeout=timeout)


async def wait_timed(
    monitoring: str, order_ids: list[str], *, timeout: float
) -> dict[str, list[dict[str, Any]]]:
    """Until monitoring has closed every stage of every order; each order's handoffs."""
    deadline = time.monotonic() + timeout
    timed: dict[str, list[dict[str, Any]]] = {}
    semaphore = asyncio.Semaphore(8)
    # an analyst reads every order's handoffs (a department only those it is party to)
    async with httpx.AsyncClient(base_url=monitoring, timeout=10, headers=auth("ANALYST")) as c:

        async def fetch(order_id: str) -> None:
            async with semaphore:
                response = await c.get(f"/v1/orders/{order_id}/handoffs")
            if response.status_code == 200:
                stages = [h for h in response.json() if h["order_id"] == order_id]
                if {h["stage"] for h in stages if h["ended_at"]} == STAGES:
                    timed[order_id] = stages

        while True:
            await asyncio.gather(*(fetch(o) for o in order_ids if o not in timed))
            if len(timed) == len(order_ids):
                return timed
            assert time.monotonic() < deadline, f"{len(order_ids) - len(timed)} orders not timed"
            await asyncio.sleep(0.3)


async def test_the_sla_clocks_of_a_killed_replica_fire_once_from_the_other(
    stack: ReplicaStack,
) -> None:
    """Replica A fires the clocks while B is frozen; A is killed half-way through the
    breaches; B carries on. Each warning and breach of each stage is on the topic once."""
    worker, *more = stack.of("monitoring")  # (one, after the test above)
    for extra in more:
        stack.kill(extra)
    (other,) = stack.start("monitoring")  # the killed one's replacement joins the group
    intake = stack.of("order-intake")[0].url
    # A (worker) does the work meanwhile: B's partitions move to A after 2 s, and whatever
    # B was doing in a transaction (its relay may hold the relay's lock) ends after 5 s, or
    # 20 s if B froze in the middle of a query
    other.pause()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            order_ids = []
            for _ in range(12):
                response = await client.post(
                    f"{intake}/v1/orders",
                    json={
                        "requester": "ASSEMBLY",
                        "supplier": SLA_SUPPLIER,
                        "lines": [{"sku": "PALLET-MOVE", "quantity": 1}],
                    },
                    headers={**auth("ASSEMBLY"), "Idempotency-Key": f"sla-{uuid.uuid4()}"},
                )
                assert response.status_code == 201, response.text
                order_ids.append(response.json()["order_id"])
                await asyncio.sleep(0.2)
        wanted = set(order_ids)

        def breached(at_least: int) -> Any:
            def check(records: list[Any]) -> bool:
                return (
                    len(
                        {
                            r.json["order_id"]
                            for r in records
                            if r.json["event_type"] == "SlaBreached"
                            and r.json["order_id"] in wanted
                        }
                    )
                    >= at_least
                )

            return check

        # A is stopped once it has raised a third of the breaches (in its tables: on the
        # topic they may wait for B's frozen relay transaction to be ended, 20 s)
        async def a_third_raised() -> bool:
            return await breaches_raised(stack.database_url, order_ids) >= 4

        try:
            await eventually(a_third_raised, what="4 breaches raised", timeout=90)
        except AssertionError as exc:
            logs = [log_lines(s, "group_coordinator", "WARNING", "ERROR") for s in (worker, other)]
            state = await sla_clock_state(stack.database_url, order_ids)
            raise AssertionError("\n".join([str(exc), state, *logs])) from None
        worker.pause()
        raised_by_worker = await breaches_raised(stack.database_url, order_ids)
        in_flight = await unpublished_event_ids(stack.database_url, "monitoring")
        stack.kill(worker)
    finally:
        other.resume()
    assert 4 <= raised_by_worker < len(order_ids), "the kill came half-way through the breaches"
    await read_records(stack.bootstrap, [topics.SLA], until=breached(len(order_ids)), timeout=90)
    await wait_drained(stack.database_url, ["monitoring"])
    records = [
        r for r in await read_to_end(stack.bootstrap, [topics.SLA]) if r.json["order_id"] in wanted
    ]
    alarms = Counter(
        (r.json["order_id"], r.json["event_type"], r.json["stage"])
        for r in records
        if r.json["event_id"] not in in_flight  # (counted below)
    )
    expected = {(o, t, "acceptance") for o in order_ids for t in ("SlaWarning", "SlaBreached")}
    fired = {(r.json["order_id"], r.json["event_type"], r.json["stage"]) for r in records}
    assert fired == expected
    assert all(n == 1 for n in alarms.values()), alarms
    assert_once(records, in_flight, "sla")
    # the survivor fired exactly the breaches the killed replica had not committed
    breaches_by_other = await asyncio.to_thread(
        metric,
        other,
        "supplychain_sla_breaches_total",
        stage="acceptance",
        supplier=SLA_SUPPLIER,
    )
    assert breaches_by_other == len(order_ids) - raised_by_worker


async def breaches_raised(database_url: str, order_ids: list[str]) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval(
            """SELECT count(*) FROM monitoring.stages
               WHERE stage = 'acceptance' AND breach_raised_at IS NOT NULL
                 AND order_id = ANY($1::uuid[])""",
            order_ids,
        )
        return count
    finally:
        await conn.close()
