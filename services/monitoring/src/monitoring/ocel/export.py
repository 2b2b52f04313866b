"""The OCEL 2.0 export of a period, streamed: its items as the store reads them, written as the
OCEL 2.0 JSON document (chunk by chunk) or as the OCEL 2.0 SQLite database (a file).

Events come first: the objects are those the events touched, which are known once the events
are read (only their ids are kept, never the log)."""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from monitoring.ocel import log as ocel
from monitoring.ocel import store
from monitoring.ocel.log import OcelEvent, OcelObject, TypeDeclaration

Item = OcelEvent | OcelObject
CHUNK_ITEMS = 200


PSEUDONYM_KEY_BYTES = 32


async def log_items(conn: asyncpg.Connection, period: str) -> AsyncIterator[Item]:
    """The events of the period (`YYYY-MM`, UTC), then every object they touch. Employees
    are pseudonymised with a key of this export alone, forgotten when it ends."""
    start, end = ocel.period_bounds(period)
    touched = ocel.TouchedObjects()
    employees = ocel.Pseudonyms(secrets.token_bytes(PSEUDONYM_KEY_BYTES))
    event_types = [declaration.name for declaration in ocel.event_types()]
    async for recorded in store.recorded_events(conn, start, end, event_types):
        event = ocel.event(recorded, employees=employees)
        touched.add(event.relationships)
        yield event
    order_ids = [UUID(i) for i in touched.of(ocel.ORDER)]
    async for order in store.orders(conn, order_ids, start, end):
        yield ocel.order_object(order, touched)
    for code in touched.of(ocel.DEPARTMENT):
        yield ocel.department_object(code)
    async for known in _known_or_bare(
        touched,
        ocel.INVOICE,
        (
            ocel.invoice_object(invoice, touched)
            async for invoice in store.invoices(conn, touched.of(ocel.INVOICE))
        ),
    ):
        yield known
    async for known in _known_or_bare(
        touched,
        ocel.CREDIT_NOTE,
        (
            ocel.credit_note_object(note, touched)
            async for note in store.credit_notes(conn, touched.of(ocel.CREDIT_NOTE))
        ),
    ):
        yield known
    clock_orders = sorted({UUID(i.split(":", 1)[0]) for i in touched.of(ocel.SLA_CLOCK)})
    async for known in _known_or_bare(
        touched,
        ocel.SLA_CLOCK,
        (
            ocel.clock_object(clock, touched)
            async for clock in store.clocks(conn, clock_orders, start, end)
        ),
    ):
        yield known


async def _known_or_bare(
    touched: ocel.TouchedObjects, object_type: str, known: AsyncIterator[OcelObject]
) -> AsyncIterator[OcelObject]:
    """The objects of a type as the store knows them, then bare ones for the ids it does not
    know (an invoice whose InvoiceIssued was recorded before events kept their fields)."""
    wanted = set(touched.of(object_type))
    async for item in known:
        if item.id in wanted:
            wanted.discard(item.id)
            yield item
    for object_id in sorted(wanted):
        yield ocel.bare_object(object_id, object_type)


# --- JSON --------------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


async def json_chunks(items: AsyncIterator[Item]) -> AsyncIterator[bytes]:
    """The OCEL 2.0 JSON document of the items (events before objects), a few hundred items
    a chunk."""
    parts = [
        '{"objectTypes":',
        _dumps([ocel.type_json(t) for t in ocel.OBJECT_TYPES]),
        ',"eventTypes":',
        _dumps([ocel.type_json(t) for t in ocel.event_types()]),
        ',"events":[',
    ]
    in_objects, first, pending = False, True, 0
    async for item in items:
        if isinstance(item, OcelObject) and not in_objects:
            parts.append('],"objects":[')
            in_objects, first = True, True
        body = ocel.object_json(item) if isinstance(item, OcelObject) else ocel.event_json(item)
        parts.append(_dumps(body) if first else "," + _dumps(body))
        first = False
        pending += 1
        if pending >= CHUNK_ITEMS:
            yield "".join(parts).encode()
            parts, pending = [], 0
    if not in_objects:
        parts.append('],"objects":[')
    parts.append("]}")
    yield "".join(parts).encode()


# --- SQLite ------------------------------------------------------------------------------------

_SQLITE_TYPES = {
    "string": "TEXT",
    "time": "TIMESTAMP",
    "integer": "INTEGER",
    "float": "REAL",
    "boolean": "BOOLEAN",
}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_value(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


class SqliteLog:
    """An OCEL 2.0 SQLite database being written (the relational layout of the specification:
    event, object, event_object, object_object, event_map_type, object_map_type and one
    event_<type> / object_<type> table per type). Used from one task at a time."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, check_same_thread=False)
        self._event_types = {t.name: t for t in ocel.event_types()}
        self._object_types = {t.name: t for t in ocel.OBJECT_TYPES}
        self._create()

    def _create(self) -> None:
        c = self.connection
        c.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE event (ocel_id TEXT PRIMARY KEY, ocel_type TEXT NOT NULL);
            CREATE TABLE object (ocel_id TEXT PRIMARY KEY, ocel_type TEXT NOT NULL);
            CREATE TABLE event_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT NOT NULL);
            CREATE TABLE object_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT NOT NULL);
            CREATE TABLE event_object (
                ocel_event_id TEXT NOT NULL REFERENCES event (ocel_id),
                ocel_object_id TEXT NOT NULL REFERENCES object (ocel_id),
                ocel_qualifier TEXT NOT NULL,
                PRIMARY KEY (ocel_event_id, ocel_object_id, ocel_qualifier));
            CREATE TABLE object_object (
                ocel_source_id TEXT NOT NULL REFERENCES object (ocel_id),
                ocel_target_id TEXT NOT NULL REFERENCES object (ocel_id),
                ocel_qualifier TEXT NOT NULL,
                PRIMARY KEY (ocel_source_id, ocel_target_id, ocel_qualifier));
            """
        )
        for declaration in self._event_types.values():
            self._create_typed("event", declaration, ("ocel_id TEXT PRIMARY KEY",))
        for declaration in self._object_types.values():
            self._create_typed("object", declaration, ("ocel_id TEXT NOT NULL",))

    def _create_typed(self, kind: str, declaration: TypeDeclaration, key: tuple[str, ...]) -> None:
        core = [*key, "ocel_time TIMESTAMP NOT NULL"]
        if kind == "object":
            core.append("ocel_changed_field TEXT")
        columns = core + [
            f"{_quote(a.name)} {_SQLITE_TYPES[a.type]}" for a in declaration.attributes
        ]
        table = f"{kind}_{declaration.name}"
        self.connection.execute(f"CREATE TABLE {_quote(table)} ({', '.join(columns)})")
        self.connection.execute(
            f"INSERT INTO {kind}_map_type (ocel_type, ocel_type_map) VALUES (?, ?)",
            (declaration.name, declaration.name),
        )

    def add(self, items: Sequence[Item]) -> None:
        for item in items:
            if isinstance(item, OcelObject):
                self._add_object(item)
            else:
                self._add_event(item)

    def _insert(self, table: str, row: dict[str, Any]) -> None:
        names = ", ".join(_quote(name) for name in row)
        marks = ", ".join("?" for _ in row)
        self.connection.execute(
            f"INSERT INTO {_quote(table)} ({names}) VALUES ({marks})",
            [_sqlite_value(value) for value in row.values()],
        )

    def _add_event(self, item: OcelEvent) -> None:
        self._insert("event", {"ocel_id": item.id, "ocel_type": item.type})
        self._insert(
            f"event_{item.type}",
            {"ocel_id": item.id, "ocel_time": ocel.render_time(item.time), **dict(item.attributes)},
        )
        self.connection.executemany(
            "INSERT INTO event_object VALUES (?, ?, ?)",
            [(item.id, r.object_id, r.qualifier) for r in item.relationships],
        )

    def _add_object(self, item: OcelObject) -> None:
        self._insert("object", {"ocel_id": item.id, "ocel_type": item.type})
        table = f"object_{item.type}"
        initial = {a.name: a.value for a in item.attributes if a.time == ocel.EPOCH}
        # Every object has its initial row (readers take the object's existence from it).
        self._insert(
            table,
            {"ocel_id": item.id, "ocel_time": ocel.render_time(ocel.EPOCH), **initial},
        )
        for change in item.attributes:
            if change.time != ocel.EPOCH:
                self._insert(
                    table,
                    {
                        "ocel_id": item.id,
                        "ocel_time": ocel.render_time(change.time),
                        "ocel_changed_field": change.name,
                        change.name: change.value,
                    },
                )
        self.connection.executemany(
            "INSERT INTO object_object VALUES (?, ?, ?)",
            [(item.id, r.object_id, r.qualifier) for r in item.relationships],
        )

    def close(self) -> None:
        self.connection.commit()
        self.connection.close()


async def write_sqlite(items: AsyncIterator[Item], path: Path) -> None:
    """Write the items into a new OCEL 2.0 SQLite database at `path` (the writes run in a
    worker thread, a batch at a time)."""
    log = await asyncio.to_thread(SqliteLog, path)
    try:
        batch: list[Item] = []
        async for item in items:
            batch.append(item)
            if len(batch) >= CHUNK_ITEMS:
                await asyncio.to_thread(log.add, batch)
                batch = []
        await asyncio.to_thread(log.add, batch)
    finally:
        await asyncio.to_thread(log.close)
