"""Transactional outbox: events are written with the state change, then relayed to Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg
from supplychain_contracts.envelope import Event
from supplychain_contracts.registry import topic_for
from supplychain_contracts.topics import HEADER_EVENT_TYPE

from supplychain_kit import metrics
from supplychain_kit.messaging import outbox_parking
from supplychain_kit.retry import Backoff
from supplychain_kit.telemetry import current_trace_headers, end_send, start_send

log = logging.getLogger(__name__)

# publish(topic, key, payload, headers) -> awaitable that completes when the broker confirmed.
Publish = Callable[[str, bytes, bytes, dict[str, str]], Awaitable[Awaitable[Any]]]

FIRST_RETRY_S = 0.2  # after a failed round; doubles up to MAX_RETRY_S
MAX_RETRY_S = 5.0
HOUSEKEEPING_EVERY_S = 60.0
LISTEN_TIMEOUT_S = 2.0  # a connection to listen on, or sweep meanwhile
DELETE_BATCH = 1000  # published rows deleted per statement (short locks, small WAL bursts)


# The relay's leadership (one relay per schema: a transaction-scoped advisory lock), and its
# transaction's commit not waiting for the WAL flush: after a database crash a mark lost with
# it publishes its rows again, as a crash between the broker's confirmation and the commit
# does (delivery is at least once; consumers apply an event once through their inbox).
LEAD = """SELECT pg_try_advisory_xact_lock(hashtext($1)),
                 set_config('synchronous_commit', 'off', true)"""


def notify_channel(schema: str) -> str:
    """The channel a service's relay listens on: one per schema, so one per service."""
    return f"{schema}_outbox"


async def append(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
    """Publish `events` once the caller's transaction commits (the outbox is the port).

    The rows go to the outbox of the connection's own schema (its search_path), with the
    current trace context, and the relay is woken on that schema's channel, all in one round
    trip. Callers name no schema, topic or channel.
    """
    if not events:
        return
    trace_headers = current_trace_headers()
    await conn.execute(
        """WITH appended AS (
               INSERT INTO outbox (event_id, topic, key, event_type, payload, headers)
               SELECT event_id, topic, key, event_type, payload, headers
               FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                           $6::jsonb[]) WITH ORDINALITY
                    AS e(event_id, topic, key, event_type, payload, headers, position)
               ORDER BY position  -- ids in the order given: the relay publishes in id order
               ON CONFLICT (event_id) DO NOTHING RETURNING 1)
           SELECT pg_notify(current_schema() || '_outbox', '')""",
        [event.event_id for event in events],
        [topic_for(event) for event in events],
        [event.message_key() for event in events],
        [event.event_type for event in events],
        [event.model_dump_json() for event in events],
        [json.dumps({**trace_headers, HEADER_EVENT_TYPE: event.event_type}) for event in events],
    )


class OutboxRelay:
    """Publishes outbox rows in id order and marks them published.

    One relay at a time per service holds a transaction-scoped advisory lock, so several
    replicas are safe and the events of one order keep their order on the topic. It is woken
    by the NOTIFY of `append`'s transaction; `poll_interval` is only a safety sweep (another
    replica's rows, a lost notification). Published rows are deleted after `retention_s`,
    a small batch at a time.
    """

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        publish: Publish,
        schema: str,
        service: str,
        batch_size: int = 500,
        poll_interval: float = 5.0,
        retention_s: float = 3600.0,
        retry: outbox_parking.RetryPolicy | None = None,
    ) -> None:
        self._pool = pool
        self._publish = publish
        self._schema = schema
        self._service = service
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retention_s = retention_s
        self._wakeup = asyncio.Event()
        self._pending_gauge = metrics.OUTBOX_PENDING.labels(service=service)
        self._errors = metrics.OUTBOX_PUBLISH_ERRORS.labels(service=service)
        self._last_housekeeping = 0.0
        self._retry = retry or outbox_parking.RetryPolicy()
        self._parked_gauge = metrics.OUTBOX_PARKED.labels(service=service)
        self._parked_counted = False
        self._listening = False

    def wake(self, *notification: object) -> None:
        if notification and notification[-1] == "released":  # parked rows were released
            self._parked_counted = False
        self._wakeup.set()

    async def run(self) -> None:
        listener: asyncpg.Connection | None = None
        backoff = Backoff(first_s=FIRST_RETRY_S, cap_s=MAX_RETRY_S)
        try:
            while True:
                self._wakeup.clear()  # before the batch: a NOTIFY during it calls for another
                try:
                    if not self._listening:
                        # (again) after a database outage: the notifications of a closed
                        # connection are lost, the batch below catches up on what they told
                        listener = await self._listen()
                    published = await self.publish_batch()
                    await self._housekeeping()
                    backoff.reset()
                except Exception as exc:  # the relay must outlive any failure
                    self._errors.inc()
                    log.warning("outbox relay of %s failed, retrying: %r", self._service, exc)
                    published = 0
                    await asyncio.sleep(backoff.next_delay())
                    continue
                if published < self._batch_size:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_interval)
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):  # also one the pool took back, closed
                    await listener.remove_listener(notify_channel(self._schema), self.wake)
                with contextlib.suppress(Exception):
                    await self._pool.release(listener)

    async def _listen(self) -> asyncpg.Connection | None:
        """A connection listening on the relay's channel (its loss wakes the relay); None
        while the database cannot be reached (the relay sweeps meanwhile). A lost one is not
        released here: the pool took it back when it closed."""
        try:
            conn: asyncpg.Connection = await self._pool.acquire(timeout=LISTEN_TIMEOUT_S)
        except Exception as exc:  # (asyncpg's InterfaceError too) the relay must go on
            log.warning("outbox relay cannot LISTEN, sweeping only: %r", exc)
            return None
        try:
            await conn.add_listener(notify_channel(self._schema), self.wake)
        except Exception as exc:
            log.warning("outbox relay cannot LISTEN, sweeping only: %r", exc)
            with contextlib.suppress(Exception):
                await self._pool.release(conn)
            return None
        conn.add_termination_listener(self._lost_listener)
        self._listening = True
        return conn

    def _lost_listener(self, _conn: object) -> None:
        """The LISTEN connection closed (the pool takes it back itself): listen again."""
        self._listening = False
        self._wakeup.set()

    async def publish_batch(self) -> int:
        """Publish up to one batch; returns how many rows were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(LEAD, f"outbox:{self._schema}"):
                return 0
            # leaves out the rows of keys that wait behind a refused row (outbox_parking)
            rows = await conn.fetch(outbox_parking.UNPUBLISHED_ROWS, self._batch_size)
            if not self._parked_counted:
                self._parked_gauge.set(await outbox_parking.parked_count(conn))
                self._parked_counted = True
            if not rows:
                self._pending_gauge.set(0)
                return 0
            try:
                sent, refusals = await self._send_rows(rows)
            except Exception:
                await self._count_backlog(conn, rows)  # a broker outage shows as backlog
                raise
            # while the records are on their way to the broker
            pending = await self._count_backlog(conn, rows)
            published = await self._confirmed(sent, refusals)
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in published],
            )
            if any(row["attempts"] for row in published):
                await outbox_parking.forget(conn, [r["id"] for r in published if r["attempts"]])
            if refusals:
                parked = await outbox_parking.record(conn, refusals, self._retry)
                self._log_refusals(refusals, parked)
                if parked:
                    self._parked_gauge.set(await outbox_parking.parked_count(conn))
        self._pending_gauge.set(pending - len(published))
        for topic, count in Counter(row["topic"] for row in published).items():
            metrics.OUTBOX_PUBLISHED.labels(service=self._service, topic=topic).inc(count)
        return len(published)

    async def _count_backlog(self, conn: asyncpg.Connection, rows: Sequence[object]) -> int:
        """Set the backlog gauge before the batch is confirmed: counted only when there may
        be more than this batch."""
        pending = len(rows)
        if pending == self._batch_size:
            pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        self._pending_gauge.set(pending)
        return pending

    async def _send_rows(
        self, rows: Sequence[Mapping[str, Any]]
    ) -> tuple[list[tuple[Mapping[str, Any], Awaitable[Any]]], list[outbox_parking.Refusal]]:
        """Send rows in id order: each sent row with its confirmation to come, and the rows
        refused before they left (the producer's size check, an unknown topic), noted for a
        retry, then parked; the later rows of a refused row's key stay for after it. Any
        other failure (the broker away) fails the batch, which is retried as it is."""
        sent: list[tuple[Mapping[str, Any], Awaitable[Any]]] = []
        refusals: list[outbox_parking.Refusal] = []
        refused_keys: set[str] = set()
        for row in rows:
            if row["key"] in refused_keys:
                continue
            try:
                sent.append((row, await self._send(row)))
            except Exception as exc:
                if not outbox_parking.refused(exc):
                    raise
                refusals.append(self._refusal(row, exc))
                refused_keys.add(row["key"])
        return sent, refusals

    async def _confirmed(
        self,
        sent: Sequence[tuple[Mapping[str, Any], Awaitable[Any]]],
        refusals: list[outbox_parking.Refusal],
    ) -> list[Mapping[str, Any]]:
        """The sent rows the broker confirmed; the ones it refused for good join `refusals`.
        Any other failure fails the batch once every confirmation is in."""
        published: list[Mapping[str, Any]] = []
        failure: BaseException | None = None
        # awaited in order, not gathered: the broker confirms a whole record batch at once, so
        # most are done when awaited and cost no suspension (gather's callbacks cost one each)
        for row, confirmation in sent:
            try:
                await confirmation
            except Exception as exc:
                if not outbox_parking.refused(exc):
                    failure = failure or exc
                    continue
                refusals.append(self._refusal(row, exc))
            else:
                published.append(row)
        if failure is not None:
            raise failure
        return published

    def _refusal(self, row: Mapping[str, Any], exc: BaseException) -> outbox_parking.Refusal:
        metrics.OUTBOX_REFUSALS.labels(service=self._service, error=type(exc).__name__).inc()
        return outbox_parking.Refusal(
            outbox_id=row["id"],
            key=row["key"],
            topic=row["topic"],
            attempts=row["attempts"] + 1,
            error=outbox_parking.describe(exc),
        )

    def _log_refusals(
        self, refusals: Sequence[outbox_parking.Refusal], parked: Sequence[outbox_parking.Refusal]
    ) -> None:
        for refusal in refusals:
            if refusal in parked:
                log.error(
                    "outbox row %d of %s (topic %s, key %s) refused %d times, parked: %s; "
                    "the key's later rows wait. Fix the cause, then: supplychain outbox "
                    "release --service %s --id %d",
                    refusal.outbox_id,
                    self._service,
                    refusal.topic,
                    refusal.key,
                    refusal.attempts,
                    refusal.error,
                    self._schema.replace("_", "-"),  # the CLI names services as `make run` does
                    refusal.outbox_id,
                )
            else:
                log.warning(
                    "outbox row %d of %s (topic %s, key %s) refused (attempt %d; parked after "
                    "%d and %gs), retrying in %.1fs: %s",
                    refusal.outbox_id,
                    self._service,
                    refusal.topic,
                    refusal.key,
                    refusal.attempts,
                    self._retry.park_after_attempts,
                    self._retry.park_after_s,
                    self._retry.delay(refusal.attempts),
                    refusal.error,
                )

    async def _send(self, row: Mapping[str, Any]) -> Awaitable[Any]:
        """Send a row in its `send <topic>` span: the child of the context the row was written
        in, its own context in the record's `traceparent` (the consumer continues from it)."""
        headers: dict[str, str] = json.loads(row["headers"])
        span = start_send(row["topic"], key=row["key"], message_id=row["event_id"], headers=headers)
        try:
            confirmation = await self._publish(
                row["topic"], row["key"].encode(), row["payload"].encode(), headers
            )
        except BaseException as exc:
            end_send(span, exc)
            raise
        end_send(span, confirmation)
        return confirmation

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_housekeeping < HOUSEKEEPING_EVERY_S:
            return
        self._last_housekeeping = now
        self._parked_counted = False  # released from elsewhere without a notification
        async with self._pool.acquire() as conn:
            pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            self._pending_gauge.set(pending)
            await delete_published(conn, older_than_s=self._retention_s)


async def delete_published(
    conn: asyncpg.Connection, *, older_than_s: float, batch: int = DELETE_BATCH
) -> int:
    """Delete the rows published more than `older_than_s` ago, `batch` rows per statement
    (oldest ids first: the primary key reaches them without a scan); returns how many."""
    deleted = 0
    while True:
        done: int = await conn.fetchval(
            """WITH gone AS (
                   DELETE FROM outbox WHERE id IN (
                       SELECT id FROM outbox
                       WHERE published_at < now() - make_interval(secs => $1)
                       ORDER BY id LIMIT $2)
                   RETURNING 1)
               SELECT count(*) FROM gone""",
            older_than_s,
            batch,
        )
        deleted += done
        if done < batch:
            return deleted
