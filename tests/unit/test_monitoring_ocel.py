"""The OCEL 2.0 export's rules (monitoring.ocel): event and object types, attributes typed as
the specification's five types, qualified relationships, attributes over time; and its two
forms written offline and read back by an independent OCEL 2.0 reader (oceldb)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from monitoring.ocel import export as ocel_export
from monitoring.ocel import log as ocel
from monitoring.ocel.log import RecordedEvent, Relationship
from oceldb.io import convert_json, convert_sqlite
from supplychain_contracts.events import OrderParties
from supplychain_contracts.registry import all_event_models, event_type_of

T0 = datetime(2026, 11, 2, 9, 30, 0, 123456, tzinfo=UTC)
ROOT, SUB = uuid.UUID(int=1), uuid.UUID(int=2)
INVOICE, NOTE = uuid.UUID(int=3), uuid.UUID(int=4)
EMPLOYEES = ocel.Pseudonyms(b"an export's own key, 32 bytes..")
# What pm4py's default JSON timestamp parser reads: seconds, a fraction it takes as
# milliseconds, then Z (which it turns into +00:00).
PM4PY_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def recorded(
    event_type: str,
    at: datetime,
    *,
    order_id: uuid.UUID = ROOT,
    root: uuid.UUID = ROOT,
    supplier: str = "ASSEMBLY",
    requester: str = "SALES",
    payload: dict[str, Any] | None = None,
) -> RecordedEvent:
    return RecordedEvent(
        event_id=uuid.uuid4(),
        event_type=event_type,
        occurred_at=at,
        order_id=order_id,
        root_order_id=root,
        supplier=supplier,
        requester=requester,
        trace_id="ab" * 16,
        payload=payload or {},
    )


def logged(recorded: RecordedEvent) -> ocel.OcelEvent:
    """The event as an export logs it."""
    return ocel.event(recorded, employees=EMPLOYEES)


def rels(event: ocel.OcelEvent) -> set[tuple[str, str, str]]:
    return {(r.object_id, r.object_type, r.qualifier) for r in event.relationships}


def test_one_event_type_per_contract_order_event_with_typed_scalar_fields() -> None:
    declared = {t.name: {a.name: a.type for a in t.attributes} for t in ocel.event_types()}
    order_events = {event_type_of(m) for m in all_event_models() if issubclass(m, OrderParties)}
    assert set(declared) == order_events
    assert "DepartmentDefined" not in declared
    kinds = {kind for attributes in declared.values() for kind in attributes.values()}
    assert kinds == {"string", "time", "integer", "float"}
    # money and rates are exact decimal strings, never floats
    assert declared["InvoiceIssued"]["total"] == "string"
    assert declared["CreditNoteIssued"]["amount"] == "string"
    assert declared["InvoiceIssued"]["fx_rate"] == "string"
    assert declared["InvoiceIssued"]["invoice_id"] == "string"
    assert declared["FeedbackGiven"]["rating"] == "integer"
    assert declared["SlaResumed"]["deadline"] == "time"  # optional and annotated
    assert declared["SlaBreached"]["service_credit_pct"] == "string"
    assert declared["SlaBreached"]["target_seconds"] == "float"
    assert declared["OrderPlaced"]["priority"] == "string"
    # envelope fields are the event itself; lines and components are no scalars
    assert "occurred_at" not in declared["OrderPlaced"]
    assert "lines" not in declared["OrderPlaced"]
    assert "components" not in declared["ComponentsRequested"]


def test_event_attributes_are_typed_from_the_payload() -> None:
    event = logged(
        recorded(
            "InvoiceIssued",
            T0,
            payload={
                "invoice_id": str(INVOICE),
                "period": "2026-11",
                "currency": "EUR",
                "total": "1250.50",
                "lines": [{"sku": "X"}],
                "employee_id": None,
            },
        )
    )
    attributes = dict(event.attributes)
    assert attributes == {
        "trace_id": "ab" * 16,
        "invoice_id": str(INVOICE),
        "period": "2026-11",
        "currency": "EUR",
        "total": "1250.50",
    }
    breach = logged(
        recorded(
            "SlaBreached",
            T0,
            payload={
                "stage": "acceptance",
                "deadline": "2026-11-02T09:00:00+01:00",
                "target_seconds": 60,
                "policy_version": 2,
            },
        )
    )
    assert dict(breach.attributes)["deadline"] == "2026-11-02T08:00:00.000Z"
    assert dict(breach.attributes)["target_seconds"] == 60.0
    assert dict(breach.attributes)["policy_version"] == 2


def test_free_texts_are_no_attributes_and_closed_sets_of_those_names_stay() -> None:
    declared = {t.name: {a.name for a in t.attributes} for t in ocel.event_types()}
    free = {
        "HelpRequested": {"subject", "message"},
        "HelpAwaitingRequester": {"question"},
        "HelpAnswered": {"answer"},
        "FeedbackGiven": {"comment"},
        "OrderRejected": {"reason"},
        "OrderCancelled": {"reason"},
        "WorkCancelled": {"reason"},
        "CancellationRefused": {"reason"},
        "OrderBlocked": {"reason"},
        "DisputeOpened": {"reason"},
        "DisputeSettled": {"reason"},
        "CreditNoteIssued": {"reason"},
    }
    for event_type, names in free.items():
        assert not names & declared[event_type], event_type
    assert "reason" in declared["SlaPaused"]  # awaiting_requester | blocked_on_sub_orders
    assert {"rating", "employee_id"} <= declared["FeedbackGiven"]
    rated = logged(
        recorded("FeedbackGiven", T0, payload={"rating": 2, "comment": "Ms Doe was rude"})
    )
    asked = logged(
        recorded("HelpRequested", T0, payload={"subject": "where?", "message": "call me"})
    )
    assert dict(rated.attributes) == {"trace_id": "ab" * 16, "rating": 2}
    assert dict(asked.attributes) == {"trace_id": "ab" * 16}
    note_type = next(t for t in ocel.OBJECT_TYPES if t.name == "credit_note")
    assert [a.name for a in note_type.attributes] == ["amount", "currency", "period", "kind"]
    note = ocel.credit_note_object(
        ocel.CreditNoteRecord(
            str(NOTE),
            ROOT,
            {"amount": "5.00", "reason": "as agreed with Ms Doe", "kind": "dispute"},
        ),
        {str(ROOT)},
    )
    assert {a.name: a.value for a in note.attributes} == {"amount": "5.00", "kind": "dispute"}


def test_employees_are_pseudonyms_stable_in_one_export_and_unrelated_across_exports() -> None:
    def employee_of(event: ocel.OcelEvent) -> str:
        return str(dict(event.attributes)["employee_id"])

    def bought(employee_id: str) -> RecordedEvent:
        return recorded("OrderPlaced", T0, payload={"employee_id": employee_id})

    first = employee_of(logged(bought("E-1001")))
    assert re.fullmatch(r"emp-[0-9a-f]{12}", first)
    assert "1001" not in first
    assert employee_of(logged(bought("E-1001"))) == first  # the same employee, one export
    assert employee_of(logged(bought("E-1002"))) != first
    another_export = ocel.Pseudonyms(b"another export's key, 32 bytes..")
    assert employee_of(ocel.event(bought("E-1001"), employees=another_export)) != first
    assert "employee_id" not in dict(logged(recorded("OrderPlaced", T0)).attributes)


def test_relationships_are_qualified_by_the_role_of_each_object() -> None:
    sub = recorded("OrderPlaced", T0, order_id=SUB, payload={"parent_order_id": str(ROOT)})
    assert rels(logged(sub)) == {
        (str(SUB), "order", "order"),
        (str(ROOT), "order", "root order"),
        (str(ROOT), "order", "parent order"),
        ("SALES", "department", "requester"),
        ("ASSEMBLY", "department", "supplier"),
    }
    components = recorded(
        "ComponentsRequested", T0, payload={"components": [{"order_id": str(SUB), "sku": "F"}]}
    )
    assert (str(SUB), "order", "sub-order") in rels(logged(components))
    # a root order is no root of itself
    assert (str(ROOT), "order", "root order") not in rels(logged(components))
    note = recorded(
        "CreditNoteIssued",
        T0,
        payload={"credit_note_id": str(NOTE), "invoice_id": str(INVOICE)},
    )
    assert {
        (str(NOTE), "credit_note", "credit note"),
        (str(INVOICE), "invoice", "credited invoice"),
    } <= rels(logged(note))
    invoice = recorded("InvoiceIssued", T0, payload={"invoice_id": str(INVOICE)})
    assert (str(INVOICE), "invoice", "invoice") in rels(logged(invoice))
    for event_type, qualifier in [
        ("SlaWarning", "warned clock"),
        ("SlaBreached", "breached clock"),
        ("SlaPaused", "paused clock"),
    ]:
        alarm = recorded(event_type, T0, payload={"stage": "fulfilment"})
        assert (f"{ROOT}:fulfilment", "sla_clock", qualifier) in rels(logged(alarm))


def test_an_event_recorded_before_payloads_keeps_its_column_relationships() -> None:
    old = logged(recorded("InvoiceIssued", T0, order_id=SUB))
    assert dict(old.attributes) == {"trace_id": "ab" * 16}
    assert {r.object_type for r in old.relationships} == {"order", "department"}


def test_times_carry_milliseconds_and_z_and_months_are_utc() -> None:
    assert ocel.render_time(T0) == "2026-11-02T09:30:00.123Z"
    assert PM4PY_TIME.match(ocel.render_time(ocel.EPOCH))
    assert ocel.period_bounds("2026-12") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_changes_keep_the_last_value_of_one_time_and_drop_repeats() -> None:
    later = T0 + timedelta(microseconds=200)  # the same millisecond
    values = ocel.changes(
        "status",
        [
            ("placed", T0),
            ("accepted", later),
            ("accepted", T0 + timedelta(seconds=1)),
            (None, T0 + timedelta(seconds=2)),
            ("shipped", T0 + timedelta(seconds=3)),
        ],
    )
    assert [(v.value, v.time) for v in values] == [
        ("accepted", later),
        ("shipped", T0 + timedelta(seconds=3)),
    ]


def test_of_alarms_raised_at_one_time_the_breach_stands_whatever_their_order() -> None:
    for kinds in (("SlaWarning", "SlaBreached"), ("SlaBreached", "SlaWarning")):
        clock = ocel.clock_object(
            ocel.ClockRecord(ROOT, "acceptance", tuple((k, T0, {}) for k in kinds)), set()
        )
        assert [a.value for a in clock.attributes if a.name == "state"] == ["breached"]


def order_record(**overrides: Any) -> ocel.OrderRecord:
    base: dict[str, Any] = {
        "order_id": SUB,
        "root_order_id": ROOT,
        "parent_order_id": ROOT,
        "supplier": "FRAMES",
        "requester": "ASSEMBLY",
        "priority": "rush",
        "placed_at": T0,
        "trace_id": "ab" * 16,
        "sub_order_ids": (),
        "history": (
            ("OrderPlaced", T0),
            ("HelpRequested", T0 + timedelta(seconds=1)),
            ("OrderAccepted", T0 + timedelta(seconds=2)),
        ),
    }
    return ocel.OrderRecord(**{**base, **overrides})


def test_an_order_carries_its_status_over_time_and_its_related_orders() -> None:
    present = {str(SUB), str(ROOT), "FRAMES"}
    order = ocel.order_object(order_record(), present)
    static = {a.name: a.value for a in order.attributes if a.time == ocel.EPOCH}
    assert static == {
        "supplier": "FRAMES",
        "requester": "ASSEMBLY",
        "priority": "rush",
        "placed_at": "2026-11-02T09:30:00.123Z",
        "trace_id": "ab" * 16,
    }
    status = [(a.value, a.time) for a in order.attributes if a.name == "status"]
    assert status == [("placed", T0), ("accepted", T0 + timedelta(seconds=2))]
    # relationships only to objects in the log (ASSEMBLY is not)
    assert set(order.relationships) == {
        Relationship(str(ROOT), "order", "parent"),
        Relationship(str(ROOT), "order", "root order"),
        Relationship("FRAMES", "department", "supplier"),
    }
    parent = ocel.order_object(
        order_record(order_id=ROOT, parent_order_id=None, sub_order_ids=(SUB,)), present
    )
    assert Relationship(str(SUB), "order", "sub-order") in parent.relationships
    assert not any(r.qualifier == "root order" for r in parent.relationships)


def test_a_clock_carries_its_state_and_deadline_over_time() -> None:
    first, moved = "2026-11-02T10:00:00+00:00", "2026-11-02T11:00:00+00:00"
    clock = ocel.clock_object(
        ocel.ClockRecord(
            ROOT,
            "fulfilment",
            (
                ("SlaWarning", T0, {"deadline": first, "target_seconds": 3600, "policy_id": "p"}),
                ("SlaPaused", T0 + timedelta(seconds=1), {"reason": "awaiting_requester"}),
                ("SlaResumed", T0 + timedelta(seconds=9), {"deadline": moved}),
            ),
        ),
        {str(ROOT)},
    )
    assert clock.id == f"{ROOT}:fulfilment"
    by_name: dict[str, list[Any]] = {}
    for a in clock.attributes:
        by_name.setdefault(a.name, []).append(a.value)
    assert by_name["state"] == ["warned", "paused", "running"]
    assert by_name["deadline"] == ["2026-11-02T10:00:00.000Z", "2026-11-02T11:00:00.000Z"]
    assert by_name["target_seconds"] == [3600.0]
    assert clock.relationships == (Relationship(str(ROOT), "order", "timed order"),)


def test_only_cancelled_work_cancels_an_order_a_request_or_a_refusal_changes_nothing() -> None:
    def statuses(*events: str) -> list[str]:
        history = tuple((name, T0 + timedelta(seconds=i)) for i, name in enumerate(events))
        order = ocel.order_object(order_record(history=history), set())
        return [str(a.value) for a in order.attributes if a.name == "status"]

    assert statuses("OrderPlaced", "OrderCancelled", "CancellationRefused", "OrderShipped") == [
        "placed",
        "shipped",
    ]
    assert statuses("OrderPlaced", "OrderAccepted", "OrderCancelled", "WorkCancelled") == [
        "placed",
        "accepted",
        "cancelled",
    ]


def test_a_dispute_event_names_its_invoice() -> None:
    opened = logged(
        recorded(
            "DisputeOpened",
            T0,
            payload={"dispute_id": str(SUB), "invoice_id": str(INVOICE), "amount": "12.30"},
        )
    )
    assert (str(INVOICE), "invoice", "disputed invoice") in rels(opened)
    assert dict(opened.attributes)["amount"] == "12.30"


# --- both forms, offline, read back by oceldb --------------------------------------------------


def sample_items() -> list[ocel_export.Item]:
    events = [
        recorded("OrderPlaced", T0, payload={"priority": "standard", "currency": "EUR"}),
        recorded("OrderAccepted", T0 + timedelta(seconds=1)),
        recorded("SlaWarning", T0 + timedelta(seconds=2), payload={"stage": "fulfilment"}),
        recorded(
            "InvoiceIssued",
            T0 + timedelta(seconds=3),
            payload={"invoice_id": str(INVOICE), "total": "10.00", "currency": "EUR"},
        ),
        recorded("FeedbackGiven", T0 + timedelta(seconds=4), payload={"rating": 4}),
    ]
    items: list[ocel_export.Item] = [logged(e) for e in events]
    touched = ocel.TouchedObjects()
    for item in items:
        assert isinstance(item, ocel.OcelEvent)
        touched.add(item.relationships)
    history = tuple((e.event_type, e.occurred_at) for e in events)
    items.append(
        ocel.order_object(
            order_record(order_id=ROOT, parent_order_id=None, history=history), touched
        )
    )
    items += [ocel.department_object(code) for code in touched.of("department")]
    items.append(
        ocel.invoice_object(
            ocel.InvoiceRecord(str(INVOICE), ROOT, {"total": "10.00", "currency": "EUR"}),
            touched,
        )
    )
    items.append(
        ocel.clock_object(
            ocel.ClockRecord(ROOT, "fulfilment", ((events[2].event_type, T0, {}),)), touched
        )
    )
    return items


async def aiter(items: Iterable[ocel_export.Item]) -> AsyncIterator[ocel_export.Item]:
    for item in items:
        yield item


async def json_document(items: list[ocel_export.Item]) -> bytes:
    return b"".join([chunk async for chunk in ocel_export.json_chunks(aiter(items))])


def test_both_forms_read_back_with_oceldb(tmp_path: Path) -> None:
    items = sample_items()
    json_path = tmp_path / "log.json"
    json_path.write_bytes(asyncio.run(json_document(items)))
    sqlite_path = tmp_path / "log.sqlite"
    asyncio.run(ocel_export.write_sqlite(aiter(items), sqlite_path))
    for log in (
        convert_json(json_path, tmp_path / "from-json"),
        convert_sqlite(sqlite_path, tmp_path / "from-sqlite"),
    ):
        events = log.events().collect()
        assert sorted(events["ocel_type"].to_list()) == sorted(
            ["OrderPlaced", "OrderAccepted", "SlaWarning", "InvoiceIssued", "FeedbackGiven"]
        )
        assert events.filter(pl.col("ocel_type") == "FeedbackGiven")["rating"].to_list() == [4]
        objects = log.objects().collect()
        assert sorted(objects["ocel_type"].to_list()) == sorted(
            ["order", "department", "department", "invoice", "sla_clock"]
        )
        status = (
            log.object_changes("order")
            .filter(pl.col("ocel_changed_field") == "status")
            .sort("ocel_time")
            .collect()["status"]
            .to_list()
        )
        assert status == ["placed", "accepted", "invoiced"]
        e2o = log.e2o(qualifier="warned clock").collect()
        assert e2o["ocel_object_id"].to_list() == [f"{ROOT}:fulfilment"]
        o2o = log.o2o(qualifier="invoiced order").collect()
        assert o2o["ocel_target_id"].to_list() == [str(ROOT)]


def test_the_sqlite_form_has_the_specifications_tables(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    asyncio.run(ocel_export.write_sqlite(aiter(sample_items()), path))
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        mapped = dict(db.execute("SELECT ocel_type, ocel_type_map FROM event_map_type"))
        columns = {row[1]: row[2] for row in db.execute("PRAGMA table_info(object_order)")}
    assert {"event", "object", "event_object", "object_object"} <= tables
    assert {"event_map_type", "object_map_type", "event_OrderPlaced", "object_order"} <= tables
    assert mapped["SlaBreached"] == "SlaBreached"
    assert columns["ocel_time"] == "TIMESTAMP"
    assert columns["ocel_changed_field"] == "TEXT"
    assert columns["placed_at"] == "TIMESTAMP"
