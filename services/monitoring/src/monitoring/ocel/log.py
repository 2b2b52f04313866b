"""The handoffs as an OCEL 2.0 object-centric event log (issue 15): pure rules.

Events are the order events monitoring recorded (one OCEL event type per contract event type,
its attributes the event's typed fields); objects are what those events touch: orders,
departments, invoices, credit notes and SLA clocks (one per order and stage that has SLA
events). Relationships are qualified; an object attribute that changes over time (an order's
status, a clock's state) carries the time it took each value, and one that does not is given
at the epoch (the specification's "initial value").

Employees and free texts stay out (issue 23): an employee id is replaced by a pseudonym of
the export (`Pseudonyms`: the same employee is the same pseudonym within one export, and no
export's pseudonyms can be turned back into ids or matched with another's); the fields people
write in their own words (help subjects, messages, questions and answers, feedback comments,
rejection, cancellation, block, dispute and credit reasons) are no attributes at all.

Money never leaves as a float: every decimal field (totals, amounts, unit prices, FX rates,
credit percentages) is an attribute of type `string` holding the exact decimal ("12.50"), as
the events carry it; a reader converts it with its own decimal type.

Times are rendered with milliseconds and a `Z` ("2026-11-24T09:30:00.123Z"): what the OCEL 2.0
JSON schema's date-time accepts and what pm4py's default timestamp parser reads (it takes the
fraction as milliseconds).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import types
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID

from pydantic import AwareDatetime
from supplychain_contracts.events import OrderParties
from supplychain_contracts.registry import all_event_models, event_type_of

from monitoring.domain import RECORDED_IN_COLUMNS

AttributeType = Literal["string", "time", "integer", "float", "boolean"]

ORDER = "order"
DEPARTMENT = "department"
INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
SLA_CLOCK = "sla_clock"

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Attribute:
    name: str
    type: AttributeType


@dataclass(frozen=True)
class TypeDeclaration:
    name: str
    attributes: tuple[Attribute, ...]


# --- event types: one per contract event of an order -------------------------------------

# Recorded beside the event (not one of its fields): its trace, to open it in the trace viewer.
TRACE_ID = Attribute("trace_id", "string")
# Text fields people write in their own words: never in the log. (A field of these names with
# values of a closed set, SlaPaused's `reason`, is no free text and stays.)
FREE_TEXT_FIELDS = frozenset({"reason", "comment", "subject", "message", "question", "answer"})
# Fields naming a person: in the log as the export's pseudonym of the value.
EMPLOYEE_FIELDS = frozenset({"employee_id"})
PSEUDONYM_PREFIX = "emp-"
PSEUDONYM_HEX_DIGITS = 12


class Pseudonyms:
    """The employees of one export under pseudonyms: HMAC-SHA256 of the id keyed with the
    export's own random key (`emp-` and 12 hex digits). Stable within the export, so a process
    can be followed per employee; not reversible and not comparable across exports, since the
    key is used for this export only and never stored nor returned."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a pseudonym key has at least 16 random bytes")
        self._key = key

    def __call__(self, employee_id: str) -> str:
        digest = hmac.new(self._key, employee_id.encode(), hashlib.sha256).hexdigest()
        return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_DIGITS]


def _unwrapped(annotation: Any) -> Any:
    """The type of a field without `Annotated` and an optional `None`; None for a union of
    several types."""
    if get_origin(annotation) is Annotated:
        return _unwrapped(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        present = [arg for arg in get_args(annotation) if arg is not type(None)]
        return _unwrapped(present[0]) if len(present) == 1 else None
    return annotation


def is_free_text(name: str, annotation: Any) -> bool:
    """A field people fill with their own words (a plain string of a free-text name)."""
    return name in FREE_TEXT_FIELDS and _unwrapped(annotation) is str


def attribute_type(annotation: Any) -> AttributeType | None:
    """The OCEL 2.0 type of a contract field; None for a field that is no scalar (lines,
    components: those become relationships or stay out)."""
    annotation = _unwrapped(annotation)
    if annotation is AwareDatetime:
        return "time"
    if not isinstance(annotation, type):
        return None
    if issubclass(annotation, bool):
        return "boolean"
    if issubclass(annotation, Enum):
        return "string"
    if issubclass(annotation, int):
        return "integer"
    if issubclass(annotation, Decimal):
        return "string"  # money and rates stay exact: a decimal string, never a float
    if issubclass(annotation, float):
        return "float"
    if issubclass(annotation, datetime):
        return "time"
    if issubclass(annotation, str | UUID | date):
        return "string"
    return None


@functools.cache
def event_types() -> tuple[TypeDeclaration, ...]:
    """Every contract event of an order (reference and operations events are about no order
    and are not in the log), its scalar typed fields but free texts as attributes."""
    declared = []
    for model in all_event_models():
        if not issubclass(model, OrderParties):
            continue
        attributes = [TRACE_ID]
        for name, info in model.model_fields.items():
            kind = attribute_type(info.annotation)
            if name in RECORDED_IN_COLUMNS or kind is None or is_free_text(name, info.annotation):
                continue
            attributes.append(Attribute(name, kind))
        declared.append(TypeDeclaration(event_type_of(model), tuple(attributes)))
    return tuple(declared)


# --- object types ----------------------------------------------------------------------------

OBJECT_TYPES: tuple[TypeDeclaration, ...] = (
    TypeDeclaration(
        ORDER,
        (
            Attribute("supplier", "string"),
            Attribute("requester", "string"),
            Attribute("priority", "string"),
            Attribute("placed_at", "time"),
            Attribute("trace_id", "string"),
            Attribute("status", "string"),
        ),
    ),
    TypeDeclaration(DEPARTMENT, ()),
    TypeDeclaration(
        INVOICE,
        (
            Attribute("total", "string"),  # a decimal string
            Attribute("currency", "string"),
            Attribute("period", "string"),
        ),
    ),
    TypeDeclaration(
        CREDIT_NOTE,
        (
            Attribute("amount", "string"),  # a decimal string
            Attribute("currency", "string"),
            Attribute("period", "string"),
            Attribute("kind", "string"),  # sla | dispute | reversal (its reason is free text)
        ),
    ),
    TypeDeclaration(
        SLA_CLOCK,
        (
            Attribute("stage", "string"),
            Attribute("target_seconds", "float"),
            Attribute("policy_id", "string"),
            Attribute("policy_version", "integer"),
            Attribute("state", "string"),
            Attribute("deadline", "time"),
        ),
    ),
)

# An order's status after each of its events (order-intake's statuses, and `blocked`);
# the events missing here leave it as it was.
ORDER_STATUS_AFTER: Mapping[str, str] = {
    "OrderPlaced": "placed",
    "OrderAccepted": "accepted",
    "OrderRejected": "rejected",
    "WorkStarted": "in_progress",
    "ComponentsRequested": "awaiting_components",
    "ComponentsReceived": "in_progress",
    "OrderBlocked": "blocked",
    "OrderShipped": "shipped",
    "OrderDelivered": "delivered",
    "InvoiceIssued": "invoiced",
    # fulfilment settles a cancellation: the work stopped. The request (OrderCancelled) and a
    # refusal (CancellationRefused) are events of the order that leave its status as it was.
    "WorkCancelled": "cancelled",
}
# A clock's state after each SLA event, and the qualifier of the event's relationship to it.
CLOCK_STATE_AFTER: Mapping[str, str] = {
    "SlaWarning": "warned",
    "SlaPaused": "paused",
    "SlaResumed": "running",
    "SlaBreached": "breached",
    "SlaBreachRetracted": "breach retracted",  # a late ending event showed it ended in time
}
_CLOCK_QUALIFIER: Mapping[str, str] = {
    "SlaWarning": "warned clock",
    "SlaBreached": "breached clock",
    "SlaBreachRetracted": "retracted clock",
    "SlaPaused": "paused clock",
    "SlaResumed": "resumed clock",
}


# --- the log's items -------------------------------------------------------------------------


@dataclass(frozen=True)
class Relationship:
    object_id: str
    object_type: str
    qualifier: str


@dataclass(frozen=True)
class OcelEvent:
    id: str
    type: str
    time: datetime
    attributes: tuple[tuple[str, Any], ...]
    relationships: tuple[Relationship, ...]


@dataclass(frozen=True)
class ObjectValue:
    name: str
    value: Any
    time: datetime


@dataclass(frozen=True)
class OcelObject:
    id: str
    type: str
    attributes: tuple[ObjectValue, ...]
    relationships: tuple[Relationship, ...]


@dataclass(frozen=True)
class RecordedEvent:
    """An event as monitoring recorded it (handoff_events): columns and typed fields."""

    event_id: UUID
    event_type: str
    occurred_at: datetime
    order_id: UUID
    root_order_id: UUID
    supplier: str | None
    requester: str | None
    trace_id: str | None
    payload: Mapping[str, Any]


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """The UTC month `YYYY-MM` as [start, end)."""
    year, month = (int(part) for part in period.split("-"))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def render_time(value: datetime) -> str:
    """UTC, milliseconds, `Z`."""
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def clock_id(order_id: UUID | str, stage: str) -> str:
    return f"{order_id}:{stage}"


def attribute_value(kind: AttributeType, raw: Any) -> Any:
    """A field's value as the payload holds it (JSON), typed as declared; None stays None."""
    if raw is None:
        return None
    if kind == "time":
        parsed = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
        return render_time(parsed)
    if kind == "integer":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "boolean":
        return bool(raw)
    return str(raw.value if isinstance(raw, Enum) else raw)


@functools.cache
def _attributes_by_type() -> dict[str, tuple[Attribute, ...]]:
    return {declaration.name: declaration.attributes for declaration in event_types()}


def _declared(event_type: str) -> tuple[Attribute, ...]:
    return _attributes_by_type().get(event_type, (TRACE_ID,))


def event(recorded: RecordedEvent, *, employees: Pseudonyms) -> OcelEvent:
    """The recorded event as the log holds it: its declared attributes (no free text), an
    employee under the export's pseudonym."""
    fields = {**recorded.payload, TRACE_ID.name: recorded.trace_id}
    for name in EMPLOYEE_FIELDS:
        if fields.get(name) is not None:
            fields[name] = employees(str(fields[name]))
    attributes = tuple(
        (a.name, value)
        for a in _declared(recorded.event_type)
        if (value := attribute_value(a.type, fields.get(a.name))) is not None
    )
    return OcelEvent(
        id=str(recorded.event_id),
        type=recorded.event_type,
        time=recorded.occurred_at,
        attributes=attributes,
        relationships=event_relationships(recorded),
    )


def event_relationships(recorded: RecordedEvent) -> tuple[Relationship, ...]:
    """The objects an event touches, each with its role in the event."""
    p = recorded.payload
    found = [Relationship(str(recorded.order_id), ORDER, "order")]
    if recorded.root_order_id != recorded.order_id:
        found.append(Relationship(str(recorded.root_order_id), ORDER, "root order"))
    if recorded.requester:
        found.append(Relationship(recorded.requester, DEPARTMENT, "requester"))
    if recorded.supplier:
        found.append(Relationship(recorded.supplier, DEPARTMENT, "supplier"))
    kind = recorded.event_type
    if kind == "OrderPlaced" and p.get("parent_order_id"):
        found.append(Relationship(str(p["parent_order_id"]), ORDER, "parent order"))
    elif kind == "ComponentsRequested":
        found += [
            Relationship(str(c["order_id"]), ORDER, "sub-order")
            for c in p.get("components") or ()
            if c.get("order_id")
        ]
    elif kind == "ComponentsReceived":
        found += [Relationship(str(i), ORDER, "sub-order") for i in p.get("sub_order_ids") or ()]
    elif kind == "OrderBlocked" and p.get("blocking_order_id"):
        found.append(Relationship(str(p["blocking_order_id"]), ORDER, "blocking sub-order"))
    elif kind == "InvoiceIssued" and p.get("invoice_id"):
        found.append(Relationship(str(p["invoice_id"]), INVOICE, "invoice"))
    elif kind in ("DisputeOpened", "DisputeSettled", "DisputeEscalated") and p.get("invoice_id"):
        found.append(Relationship(str(p["invoice_id"]), INVOICE, "disputed invoice"))
    elif kind == "CreditNoteIssued":
        if p.get("credit_note_id"):
            found.append(Relationship(str(p["credit_note_id"]), CREDIT_NOTE, "credit note"))
        if p.get("invoice_id"):
            found.append(Relationship(str(p["invoice_id"]), INVOICE, "credited invoice"))
    elif kind in _CLOCK_QUALIFIER and p.get("stage"):
        clock = clock_id(recorded.order_id, str(p["stage"]))
        found.append(Relationship(clock, SLA_CLOCK, _CLOCK_QUALIFIER[kind]))
    return tuple(dict.fromkeys(found))


@dataclass
class TouchedObjects:
    """The objects the log's events touched so far, by type (what the objects section holds)."""

    ids: dict[str, set[str]] = field(default_factory=lambda: {t.name: set() for t in OBJECT_TYPES})

    def add(self, relationships: Iterable[Relationship]) -> None:
        for r in relationships:
            self.ids[r.object_type].add(r.object_id)

    def __contains__(self, object_id: object) -> bool:
        return any(object_id in ids for ids in self.ids.values())

    def of(self, object_type: str) -> list[str]:
        return sorted(self.ids[object_type])


# --- objects ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRecord:
    """What monitoring knows of an order (`orders`, falling back to its events when its
    OrderPlaced was not seen) and its events in the period, in order."""

    order_id: UUID
    root_order_id: UUID | None
    parent_order_id: UUID | None
    supplier: str | None
    requester: str | None
    priority: str | None
    placed_at: datetime | None
    trace_id: str | None
    sub_order_ids: tuple[UUID, ...]
    history: tuple[tuple[str, datetime], ...]


@dataclass(frozen=True)
class InvoiceRecord:
    invoice_id: str
    order_id: UUID | None
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class CreditNoteRecord:
    credit_note_id: str
    order_id: UUID | None
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class ClockRecord:
    """One order's stage clock and its SLA events in the period, in order:
    (event_type, occurred_at, payload)."""

    order_id: UUID
    stage: str
    events: tuple[tuple[str, datetime, Mapping[str, Any]], ...]


def _rank(lifecycle: Mapping[str, str], event_type: str) -> int:
    """Where an event type stands in a lifecycle (its mapping's order): of events given at one
    time (a warning and a breach raised together), the later one's value stands."""
    order = list(lifecycle)
    return order.index(event_type) if event_type in lifecycle else -1


def _static(values: Iterable[tuple[str, AttributeType, Any]]) -> list[ObjectValue]:
    return [
        ObjectValue(name, value, EPOCH)
        for name, kind, raw in values
        if (value := attribute_value(kind, raw)) is not None
    ]


def changes(name: str, history: Iterable[tuple[Any, datetime]]) -> list[ObjectValue]:
    """The values an attribute took over time: of values given at one (rendered) time the last
    stands, and a value equal to the one before is no change."""
    at_time: dict[str, tuple[Any, datetime]] = {}
    for value, at in history:
        if value is not None:
            at_time[render_time(at)] = (value, at)
    result: list[ObjectValue] = []
    for _, (value, at) in sorted(at_time.items()):
        if not result or result[-1].value != value:
            result.append(ObjectValue(name, value, at))
    return result


def _related(
    present: Container[str], candidates: Iterable[tuple[object, str, str]]
) -> tuple[Relationship, ...]:
    """The relationships to objects that are in the log (an object outside it is no target)."""
    found = (
        Relationship(str(object_id), object_type, qualifier)
        for object_id, object_type, qualifier in candidates
        if object_id is not None and str(object_id) in present
    )
    return tuple(dict.fromkeys(found))


def order_object(record: OrderRecord, present: Container[str]) -> OcelObject:
    attributes = _static(
        [
            ("supplier", "string", record.supplier),
            ("requester", "string", record.requester),
            ("priority", "string", record.priority),
            ("placed_at", "time", record.placed_at),
            ("trace_id", "string", record.trace_id),
        ]
    )
    history = sorted(
        record.history, key=lambda event: (event[1], _rank(ORDER_STATUS_AFTER, event[0]))
    )
    attributes += changes("status", ((ORDER_STATUS_AFTER.get(kind), at) for kind, at in history))
    root = record.root_order_id if record.root_order_id != record.order_id else None
    relationships = _related(
        present,
        [
            (record.parent_order_id, ORDER, "parent"),
            *((sub, ORDER, "sub-order") for sub in record.sub_order_ids),
            (root, ORDER, "root order"),
            (record.supplier, DEPARTMENT, "supplier"),
            (record.requester, DEPARTMENT, "requester"),
        ],
    )
    return OcelObject(str(record.order_id), ORDER, tuple(attributes), relationships)


def department_object(code: str) -> OcelObject:
    return OcelObject(code, DEPARTMENT, (), ())


def invoice_object(record: InvoiceRecord, present: Container[str]) -> OcelObject:
    p = record.payload
    attributes = _static(
        [
            ("total", "string", p.get("total")),
            ("currency", "string", p.get("currency")),
            ("period", "string", p.get("period")),
        ]
    )
    relationships = _related(present, [(record.order_id, ORDER, "invoiced order")])
    return OcelObject(record.invoice_id, INVOICE, tuple(attributes), relationships)


def credit_note_object(record: CreditNoteRecord, present: Container[str]) -> OcelObject:
    p = record.payload
    attributes = _static(
        [
            ("amount", "string", p.get("amount")),
            ("currency", "string", p.get("currency")),
            ("period", "string", p.get("period")),
            ("kind", "string", p.get("kind", "sla")),
        ]
    )
    relationships = _related(
        present,
        [
            (p.get("invoice_id"), INVOICE, "credited invoice"),
            (record.order_id, ORDER, "credited order"),
        ],
    )
    return OcelObject(record.credit_note_id, CREDIT_NOTE, tuple(attributes), relationships)


def clock_object(record: ClockRecord, present: Container[str]) -> OcelObject:
    events = sorted(record.events, key=lambda e: (e[1], _rank(CLOCK_STATE_AFTER, e[0])))
    first = events[0][2] if events else {}
    with_target = next((p for _, _, p in events if p.get("target_seconds") is not None), {})
    attributes = _static(
        [
            ("stage", "string", record.stage),
            ("target_seconds", "float", with_target.get("target_seconds")),
            ("policy_id", "string", first.get("policy_id")),
            ("policy_version", "integer", first.get("policy_version")),
        ]
    )
    attributes += changes("state", ((CLOCK_STATE_AFTER.get(kind), at) for kind, at, _ in events))
    attributes += changes(
        "deadline",
        (
            (attribute_value("time", p.get("deadline")), at)
            for _, at, p in events
            if p.get("deadline")
        ),
    )
    relationships = _related(present, [(record.order_id, ORDER, "timed order")])
    return OcelObject(
        clock_id(record.order_id, record.stage), SLA_CLOCK, tuple(attributes), relationships
    )


def bare_object(object_id: str, object_type: str) -> OcelObject:
    """An object the log's events name but monitoring knows nothing more of (its issuing event
    was recorded before events kept their fields)."""
    return OcelObject(object_id, object_type, (), ())


# --- the JSON form ---------------------------------------------------------------------------


def type_json(declaration: TypeDeclaration) -> dict[str, Any]:
    return {
        "name": declaration.name,
        "attributes": [{"name": a.name, "type": a.type} for a in declaration.attributes],
    }


def _relationships_json(relationships: Sequence[Relationship]) -> list[dict[str, str]]:
    return [{"objectId": r.object_id, "qualifier": r.qualifier} for r in relationships]


def event_json(item: OcelEvent) -> dict[str, Any]:
    return {
        "id": item.id,
        "type": item.type,
        "time": render_time(item.time),
        "attributes": [{"name": name, "value": value} for name, value in item.attributes],
        "relationships": _relationships_json(item.relationships),
    }


def object_json(item: OcelObject) -> dict[str, Any]:
    return {
        "id": item.id,
        "type": item.type,
        "attributes": [
            {"name": a.name, "value": a.value, "time": render_time(a.time)} for a in item.attributes
        ],
        "relationships": _relationships_json(item.relationships),
    }
