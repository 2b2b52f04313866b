"""Nothing accepted is lost: dead letters, a broker outage, a crashed service."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import httpx
import pytest
from supplychain_contracts import topics
from supplychain_contracts.company import sample_company
from supplychain_contracts.topics import dead_letter_topic
from support import (
    auth,
    events_of,
    has_event,
    order_body,
    outbox_drained,
    placed_event_json,
    poll_http,
    produce,
    provide_company,
    read_records,
    read_to_end,
)
from support.events import order_delivered
from support.fulfilment import orders_consumed

pytestmark = pytest.mark.integration


async def test_unparseable_records_go_to_the_dead_letter_topic_and_the_consumer_moves_on(
    start_service, broker
) -> None:
    fulfilment = start_service("fulfilment")
    garbage = b"{not json"
    wrong = b'{"event_type": "OrderPlaced", "order_id": "not-a-uuid"}'
    await produce(broker.bootstrap_servers, topics.ORDERS, garbage, key=b"k1")
    await produce(broker.bootstrap_servers, topics.ORDERS, wrong, key=b"k2")
    order_id, payload = placed_event_json()
    await produce(broker.bootstrap_servers, topics.ORDERS, payload, key=order_id.encode())

    dlq = dead_letter_topic(topics.ORDERS)
    records = await read_records(broker.bootstrap_servers, [dlq], until=lambda rs: len(rs) >= 2)
    by_value = {r.value: r for r in records}
    assert set(by_value) == {garbage, wrong}
    for record in records:
        assert record.headers["dlq_source_topic"] == topics.ORDERS
        assert record.headers["dlq_error_type"] == "ValidationError"
        assert record.headers["dlq_error"]
    assert "order_id" in by_value[wrong].headers["dlq_error"]
    assert by_value[garbage].key == b"k1"
    async with httpx.AsyncClient(base_url=fulfilment.url, headers=auth("FRAMES")) as client:
        await poll_http(
            client,
            "/v1/departments/FRAMES/queue",
            until=lambda r: order_id in [i["order_id"] for i in r.json()],
        )


async def test_order_accepted_while_the_broker_is_down_is_published_when_it_is_back(
    needs_embedded_broker, start_service, broker
) -> None:
    intake = start_service("order-intake")
    # the company's reference data it publishes at start is out first: the order is then the
    # only row pending (on a slow machine the broker died under that batch)
    await outbox_drained(start_service.database_url, "order_intake")
    broker.kill()
    async with httpx.AsyncClient(
        base_url=intake.url, timeout=30, headers=auth("ASSEMBLY")
    ) as client:
        response = await client.post(
            "/v1/orders", json=order_body(), headers={"Idempotency-Key": f"k-{uuid.uuid4()}"}
        )
        assert response.status_code == 201, response.text
        order_id = response.json()["order_id"]
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"database": True, "broker": False}
        await poll_http(
            client,
            "/metrics",
            until=lambda r: 'supplychain_outbox_pending{service="order-intake"} 1.0' in r.text,
        )
    await asyncio.sleep(1.0)
    # Tansu's memory storage comes back empty: the topics must exist again before the
    # service reconnects (a record produced to a topic Tansu does not know yet is dropped),
    # so the service is frozen while the broker restarts. A real Kafka keeps its topics.
    intake.pause()
    try:
        await broker.restart()
    finally:
        intake.resume()
    await read_records(
        broker.bootstrap_servers,
        [topics.ORDERS],
        until=has_event(order_id, "OrderPlaced"),
        timeout=60,
    )
    await outbox_drained(start_service.database_url, "order_intake")
    records = await read_to_end(broker.bootstrap_servers, [topics.ORDERS])
    assert len(events_of(records, order_id)) == 1


async def test_a_consumer_killed_inside_a_batch_transaction_applies_the_batch_once_after_restart(
    start_service, broker
) -> None:
    """SIGKILL fulfilment while its consumer is inside the transaction of a batch (inbox rows
    claimed, the work items' insert waiting on a lock the test holds): nothing of the batch
    may survive, and the restarted service applies every order exactly once."""
    intake = start_service("order-intake")
    fulfilment = start_service("fulfilment")
    blocker = await asyncpg.connect(start_service.database_url)
    try:
        held = blocker.transaction()
        await held.start()
        await blocker.execute("LOCK TABLE fulfilment.work_items IN EXCLUSIVE MODE")  # reads pass
        async with httpx.AsyncClient(
            base_url=intake.url, timeout=30, headers=auth("ASSEMBLY")
        ) as client:
            order_ids = []
            for _ in range(5):
                r = await client.post(
                    "/v1/orders",
                    json=order_body(),
                    headers={"Idempotency-Key": f"k-{uuid.uuid4()}"},
                )
                assert r.status_code == 201
                order_ids.append(r.json()["order_id"])
        pid = await _backend_waiting_on_a_lock(blocker, application="fulfilment")
        # inside the batch's transaction: the inbox claim is made, its effect is not
        assert await _holds_lock_on(blocker, pid, "fulfilment", "inbox")
        fulfilment.kill()
        await held.rollback()  # the killed backend's statement runs, then it sees the EOF
        await _backend_gone(blocker, pid)
        claimed = await blocker.fetchval(
            "SELECT count(*) FROM fulfilment.inbox WHERE event_type = 'OrderPlaced'"
        )
        assert claimed == 0, "the killed transaction's inbox claims were committed"

        restarted = start_service("fulfilment")
        async with httpx.AsyncClient(base_url=restarted.url, headers=auth("FRAMES")) as client:
            queue = await poll_http(
                client,
                "/v1/departments/FRAMES/queue",
                until=lambda r: set(order_ids) <= {i["order_id"] for i in r.json()},
            )
            metrics = await poll_http(
                client,
                "/metrics",
                until=lambda r: orders_consumed(r.text, "applied") >= len(order_ids),
            )
        mine = [i["order_id"] for i in queue.json() if i["order_id"] in order_ids]
        assert sorted(mine) == sorted(order_ids)
        # the restarted consumer was handed the whole batch again and applied all of it
        assert orders_consumed(metrics.text, "applied") == len(order_ids)
        assert orders_consumed(metrics.text, "duplicate") == 0
        rows = await blocker.fetch(
            "SELECT order_id::text AS id, count(*) AS n FROM fulfilment.work_items GROUP BY 1"
        )
        assert {r["id"]: r["n"] for r in rows} == dict.fromkeys(order_ids, 1)
        inbox_rows = await blocker.fetchval(
            "SELECT count(*) FROM fulfilment.inbox WHERE event_type = 'OrderPlaced'"
        )
        assert inbox_rows == len(order_ids)
    finally:
        await blocker.close()


async def _backend_waiting_on_a_lock(
    conn: asyncpg.Connection, *, application: str, timeout: float = 60
) -> int:
    """The pid of the service's PostgreSQL backend that waits on a lock inside a transaction.
    (`conn` may be inside a transaction: the activity view is read afresh each time.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        pid = await conn.fetchval(
            """SELECT pid FROM pg_stat_activity
               WHERE application_name = $1 AND wait_event_type = 'Lock'
                 AND xact_start IS NOT NULL AND datname = current_database()""",
            application,
        )
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.05)
    activity = await conn.fetch(
        """SELECT application_name, state, wait_event_type, wait_event, left(query, 120) AS q
           FROM pg_stat_activity WHERE datname = current_database()"""
    )
    raise AssertionError(
        f"no backend of {application} waited on the lock within {timeout}s: "
        f"{[dict(row) for row in activity]}"
    )


async def _holds_lock_on(conn: asyncpg.Connection, pid: int, schema: str, table: str) -> bool:
    return bool(
        await conn.fetchval(
            """SELECT count(*) FROM pg_locks l
               JOIN pg_class c ON c.oid = l.relation
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE l.pid = $1 AND l.granted AND n.nspname = $2 AND c.relname = $3
                 AND l.mode = 'RowExclusiveLock'""",
            pid,
            schema,
            table,
        )
    )


async def _still_there(conn: asyncpg.Connection, pid: int) -> bool:
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return bool(await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid))


async def _backend_gone(conn: asyncpg.Connection, pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while await _still_there(conn, pid):
        if time.monotonic() > deadline:
            raise AssertionError(f"backend {pid} of the killed service is still there")
        await asyncio.sleep(0.05)


async def test_a_record_that_fails_to_apply_is_dead_lettered_alone(start_service, broker) -> None:
    """Records fetched together are applied in one transaction; a poison one is isolated."""
    from supplychain_contracts import OrderDelivered

    invoicing = start_service("invoicing", env={"CONSUMER_MAX_ATTEMPTS": "2"})
    await provide_company(broker.bootstrap_servers, invoicing.url, sample_company())

    def delivered(supplier: str, *, quantity: int = 1, unit_price: str = "13.50") -> OrderDelivered:
        return order_delivered(
            supplier=supplier,
            requester="FRAMES",
            sku="TUBE-AL-6061",
            quantity=quantity,
            unit_price=unit_price,
        )

    # a valid event whose invoice cannot exist: its total overflows the contract's money
    good_before, poison, good_after = (
        delivered("METALWORKS"),
        delivered("METALWORKS", quantity=1000, unit_price="9999999999999999.99"),
        delivered("PAINTSHOP"),
    )
    for event in (good_before, poison, good_after):
        await produce(
            broker.bootstrap_servers,
            topics.FULFILMENT,
            event.model_dump_json().encode(),
            key=str(event.order_id).encode(),
        )
    dlq = await read_records(
        broker.bootstrap_servers,
        [dead_letter_topic(topics.FULFILMENT)],
        until=lambda rs: len(rs) >= 1,
    )
    assert [r.json["order_id"] for r in dlq] == [str(poison.order_id)]
    assert "total" in dlq[0].headers["dlq_error"]
    assert dlq[0].headers["dlq_attempts"] == "2"
    async with httpx.AsyncClient(base_url=invoicing.url, headers=auth("FRAMES")) as client:
        invoices = await poll_http(client, "/v1/invoices", until=lambda r: len(r.json()) == 2)
    assert {i["order_id"] for i in invoices.json()} == {
        str(good_before.order_id),
        str(good_after.order_id),
    }


async def test_two_replicas_publish_every_order_exactly_once(start_service, broker) -> None:
    """The outbox relay of several replicas: one leader at a time, nothing twice, in order."""
    replicas = [start_service("order-intake"), start_service("order-intake")]
    order_ids = []
    async with httpx.AsyncClient(timeout=30, headers=auth("ASSEMBLY")) as client:
        for n in range(10):
            response = await client.post(
                f"{replicas[n % 2].url}/v1/orders",
                json=order_body(),
                headers={"Idempotency-Key": f"k-{uuid.uuid4()}"},
            )
            assert response.status_code == 201
            order_ids.append(response.json()["order_id"])
        cancelled = await client.post(f"{replicas[1].url}/v1/orders/{order_ids[0]}/cancel")
        assert cancelled.status_code == 202  # a request the supplier settles

    def all_published(records: list) -> bool:
        return all(has_event(o, "OrderPlaced")(records) for o in order_ids) and has_event(
            order_ids[0], "OrderCancelled"
        )(records)

    await read_records(broker.bootstrap_servers, [topics.ORDERS], until=all_published)
    await outbox_drained(start_service.database_url, "order_intake")
    records = await read_to_end(broker.bootstrap_servers, [topics.ORDERS])
    for order_id in order_ids[1:]:
        assert [r.headers["event_type"] for r in events_of(records, order_id)] == ["OrderPlaced"]
    first = events_of(records, order_ids[0])
    assert [r.headers["event_type"] for r in sorted(first, key=lambda r: r.offset)] == [
        "OrderPlaced",
        "OrderCancelled",
    ]
