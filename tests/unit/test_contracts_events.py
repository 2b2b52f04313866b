"""Event models, the topic registry and topic names of libs/contracts (pure, no IO)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError
from supplychain_contracts import (
    CancellationRefused,
    ComponentsReceived,
    ComponentsRequested,
    CreditKind,
    CreditNoteIssued,
    DisputeEscalated,
    DisputeOpened,
    DisputeSettled,
    FeedbackGiven,
    HelpAnswered,
    HelpAwaitingRequester,
    HelpRequested,
    InvoiceIssued,
    InvoiceLine,
    OrderAccepted,
    OrderBlocked,
    OrderCancelled,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    PauseReason,
    Priority,
    RequestedComponent,
    SlaBreached,
    SlaBreachRetracted,
    SlaPaused,
    SlaResumed,
    SlaWarning,
    Stage,
    WorkCancelled,
    WorkStarted,
    all_event_models,
    parse_event_strict,
    topic_for,
    topics,
)
from supplychain_contracts.company import FxRate, NamedCalendar, sample_company
from supplychain_contracts.envelope import Envelope, Event
from supplychain_contracts.operations import OutboxRowsReleased, RecordRedriven
from supplychain_contracts.reference import (
    BusinessCalendarDefined,
    CatalogueItemDefined,
    DepartmentDefined,
    EmployeeDefined,
    LegalEntityDefined,
    ReferenceEvent,
    SlaPolicyDefined,
    catalogue_item_defined,
    department_defined,
    employee_defined,
    fx_rate_defined,
    legal_entity_defined,
)
from supplychain_contracts.registry import EVENTS_BY_TOPIC, TOPIC_BY_EVENT_TYPE

ORDER_ID = UUID("11111111-1111-4111-8111-111111111111")
ROOT_ID = UUID("22222222-2222-4222-8222-222222222222")
CAUSE_ID = UUID("33333333-3333-4333-8333-333333333333")
WHEN = datetime(2025, 3, 14, 9, 26, 53, 589000, tzinfo=UTC)
LINES = (
    OrderLine(sku="FRAME-CITY", quantity=2, unit_price=Decimal("104.50")),
    OrderLine(sku="WHEEL-28", quantity=4, unit_price=Decimal("38.50")),
)


def _parties(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "event_id": uuid4(),
        "occurred_at": WHEN,
        "order_id": ORDER_ID,
        "root_order_id": ROOT_ID,
        "causation_id": CAUSE_ID,
        "producer": "test",
        "supplier": "FRAMES",
        "requester": "ASSEMBLY",
        "employee_id": "E-1001",
    }
    fields.update(overrides)
    return fields


def sample_events() -> list[Event]:
    """One fully populated instance of every event model."""
    return [
        OrderPlaced(
            **_parties(),
            lines=LINES,
            currency="EUR",
            priority=Priority.RUSH,
            needed_by=date(2025, 4, 1),
            parent_order_id=uuid4(),
            requester_currency="USD",
            fx_rate=Decimal("1.0870000000"),
        ),
        OrderCancelled(**_parties(), reason="changed my mind"),
        OrderAccepted(**_parties()),
        OrderRejected(**_parties(), reason="no capacity"),
        WorkStarted(**_parties()),
        ComponentsRequested(
            **_parties(),
            components=(
                RequestedComponent(
                    order_id=uuid4(), sku="TUBE-AL-6061", quantity=6, supplier="METALWORKS"
                ),
            ),
        ),
        OrderShipped(**_parties()),
        OrderDelivered(
            **_parties(),
            lines=LINES,
            currency="EUR",
            confirmed_by="auto",
            requester_currency="USD",
            fx_rate=Decimal("1.087"),
            shipped_at=WHEN,
        ),
        InvoiceIssued(
            **_parties(),
            invoice_id=uuid4(),
            period="2025-03",
            currency="EUR",
            lines=(
                InvoiceLine(
                    sku="FRAME-CITY",
                    quantity=2,
                    unit_price=Decimal("104.50"),
                    amount=Decimal("209.00"),
                ),
            ),
            total=Decimal("209.00"),
            requester_currency="USD",
            fx_rate=Decimal("1.087"),
            requester_total=Decimal("227.18"),
            original_period="2025-02",
            legal_entity="NC-MFG",
        ),
        CreditNoteIssued(
            **_parties(),
            credit_note_id=uuid4(),
            invoice_id=uuid4(),
            period="2025-03",
            currency="EUR",
            amount=Decimal("10.45"),
            reason="SLA breach: fulfilment",
            kind=CreditKind.DISPUTE,
            original_period="2025-02",
            dispute_id=uuid4(),
        ),
        DisputeOpened(
            **_parties(),
            dispute_id=uuid4(),
            invoice_id=uuid4(),
            amount=Decimal("20.00"),
            currency="EUR",
            reason="two frames scratched",
        ),
        DisputeSettled(
            **_parties(),
            dispute_id=uuid4(),
            invoice_id=uuid4(),
            outcome="accepted",
            amount=Decimal("20.00"),
            currency="EUR",
            credit_note_id=uuid4(),
        ),
        DisputeEscalated(**_parties(), dispute_id=uuid4(), invoice_id=uuid4(), opened_at=WHEN),
        SlaWarning(
            **_parties(),
            stage=Stage.FULFILMENT,
            started_at=WHEN,
            deadline=WHEN + timedelta(minutes=5),
            target_seconds=300.0,
        ),
        SlaBreached(
            **_parties(),
            stage=Stage.END_TO_END,
            started_at=WHEN,
            deadline=WHEN + timedelta(minutes=15),
            target_seconds=900.0,
        ),
        OrderBlocked(**_parties(), reason="component rejected", blocking_order_id=uuid4()),
        FeedbackGiven(**_parties(), rating=4, comment="on time"),
        HelpRequested(**_parties(), subject="where is it?", message="needed tomorrow"),
        HelpAwaitingRequester(**_parties(), help_event_id=uuid4(), question="which colour?"),
        HelpAnswered(**_parties(), help_event_id=uuid4(), answer="red"),
        ComponentsReceived(**_parties(), sub_order_ids=(uuid4(), uuid4())),
        SlaPaused(
            **_parties(),
            stage=Stage.FULFILMENT,
            reason=PauseReason.AWAITING_REQUESTER,
            paused_at=WHEN,
            policy_id="FRAMES",
            policy_version=1,
        ),
        SlaResumed(
            **_parties(),
            stage=Stage.FULFILMENT,
            reason=PauseReason.BLOCKED_ON_SUB_ORDERS,
            paused_at=WHEN,
            resumed_at=WHEN + timedelta(hours=1),
            paused_seconds=3600.0,
            deadline=WHEN + timedelta(hours=2),
        ),
        SlaBreachRetracted(
            **_parties(),
            stage=Stage.ACCEPTANCE,
            started_at=WHEN,
            deadline=WHEN + timedelta(seconds=30),
            target_seconds=30.0,
            breach_event_id=uuid4(),
            ended_at=WHEN + timedelta(seconds=12),
            ending_event_id=uuid4(),
            ending_event_type="OrderAccepted",
        ),
        WorkCancelled(**_parties(), reason="not needed any more"),
        CancellationRefused(**_parties(), reason="already shipped"),
        *reference_samples(),
    ]


def reference_samples() -> list[Event]:
    company = sample_company()
    policy = company.sla_policies[0]
    return [
        legal_entity_defined(company.legal_entities[0], producer="order-intake"),
        department_defined(company.departments[0], producer="order-intake"),
        catalogue_item_defined(company.catalogue[3], producer="order-intake", changed_by="admin-1"),
        employee_defined(company.employees[0], producer="order-intake", active=False),
        BusinessCalendarDefined(
            producer="monitoring",
            entity_key="calendar:BERLIN",
            calendar=NamedCalendar(
                code="BERLIN",
                time_zone="Europe/Berlin",
                working_days=(0, 1, 2, 3, 4),
                start_hour=8,
                end_hour=17,
                holidays_country="DE",
                holidays_subdivision="BE",
                closure_days=(date(2025, 12, 24),),
            ),
        ),
        SlaPolicyDefined(
            producer="monitoring",
            entity_key=f"sla_policy:{policy.policy_key}",
            policy_id=policy.policy_key,
            version=2,
            effective_from=WHEN,
            policy=policy,
        ),
        fx_rate_defined(
            FxRate(base="USD", quote="EUR", rate=Decimal("0.92"), valid_from=date(2025, 1, 1)),
            producer="order-intake",
        ),
    ]


def operations_samples() -> list[Event]:
    return [
        RecordRedriven(
            producer="order-intake",
            dlq_topic="supplychain.orders.v1.dlq",
            dlq_partition=0,
            dlq_offset=7,
            source_topic=topics.ORDERS,
            source_partition=2,
            source_offset=41,
            consumer_group="fulfilment",
            error="1 validation error for OrderPlaced",
            redriven_partition=2,
            redriven_offset=57,
            value_replaced=True,
            redriven_by="ops-alice",
            reason="sku corrected",
        ),
        OutboxRowsReleased(
            producer="fulfilment",
            outbox_ids=(42, 43),
            event_ids=(UUID(int=42), UUID(int=43)),
            released_by="ops-alice",
            reason="topic created",
        ),
    ]


SAMPLES = sample_events() + operations_samples()


def test_samples_cover_every_event_model() -> None:
    assert {type(e) for e in SAMPLES} == set(all_event_models())
    assert len(all_event_models()) == 35


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.event_type)
def test_json_round_trip_without_topic_preserves_equality(event: Envelope) -> None:
    parsed = parse_event_strict(event.model_dump_json())
    assert type(parsed) is type(event)
    assert parsed == event


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.event_type)
def test_json_round_trip_with_its_topic_preserves_equality(event: Envelope) -> None:
    payload = event.model_dump_json().encode()
    parsed = parse_event_strict(payload, topic=topic_for(event))
    assert parsed == event


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.event_type)
def test_event_on_the_wrong_topic_is_rejected(event: Envelope) -> None:
    payload = event.model_dump_json()
    for topic in topics.ALL_TOPICS:
        if topic == topic_for(event):
            continue
        with pytest.raises(ValidationError):
            parse_event_strict(payload, topic=topic)


def test_unknown_event_type_is_rejected() -> None:
    data = json.loads(SAMPLES[2].model_dump_json())
    data["event_type"] = "OrderTeleported"
    with pytest.raises(ValidationError):
        parse_event_strict(json.dumps(data))
    with pytest.raises(ValidationError):
        parse_event_strict(json.dumps(data), topic=topics.FULFILMENT)


def test_missing_event_type_is_rejected() -> None:
    data = json.loads(SAMPLES[2].model_dump_json())
    del data["event_type"]
    with pytest.raises(ValidationError):
        parse_event_strict(json.dumps(data))


def test_garbage_payload_is_rejected() -> None:
    with pytest.raises(ValidationError):
        parse_event_strict(b"not json at all")
    with pytest.raises(ValidationError):
        parse_event_strict(b"[]", topic=topics.ORDERS)


def test_unknown_extra_fields_are_ignored_for_additive_evolution() -> None:
    data = json.loads(SAMPLES[0].model_dump_json())
    data["a_field_from_the_future"] = {"x": 1}
    parsed = parse_event_strict(json.dumps(data), topic=topics.ORDERS)
    assert parsed == SAMPLES[0]


def test_envelope_fields_come_first_in_contract_order() -> None:
    envelope = [
        "event_id",
        "event_type",
        "schema_version",
        "occurred_at",
        "order_id",
        "root_order_id",
        "causation_id",
        "producer",
    ]
    for event in SAMPLES:
        if isinstance(event, Envelope):
            assert list(json.loads(event.model_dump_json()))[: len(envelope)] == envelope


def test_reference_events_carry_the_envelope_without_order_ids_and_are_keyed_by_entity() -> None:
    envelope = [
        "event_id",
        "event_type",
        "schema_version",
        "occurred_at",
        "causation_id",
        "producer",
    ]
    references = [event for event in SAMPLES if isinstance(event, ReferenceEvent)]
    assert len(references) == 7
    for event in references:
        assert list(json.loads(event.model_dump_json()))[: len(envelope)] == envelope
        assert event.message_key() == event.entity_key  # type: ignore[attr-defined]
        assert ":" in event.message_key()


def test_defaults_of_a_minimal_event() -> None:
    event = OrderAccepted(
        order_id=ORDER_ID,
        root_order_id=ORDER_ID,
        producer="fulfilment",
        supplier="FRAMES",
        requester="ASSEMBLY",
    )
    assert event.event_type == "OrderAccepted"
    assert event.schema_version == 1
    assert isinstance(event.event_id, UUID)
    assert event.causation_id is None
    assert event.occurred_at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - event.occurred_at) < timedelta(minutes=1)


def test_occurred_at_is_normalised_to_utc() -> None:
    berlin_summer = timezone(timedelta(hours=2))
    event = OrderShipped(**_parties(occurred_at=datetime(2025, 7, 1, 0, 30, tzinfo=berlin_summer)))
    assert event.occurred_at.utcoffset() == timedelta(0)
    assert event.occurred_at == datetime(2025, 6, 30, 22, 30, tzinfo=UTC)
    assert (event.occurred_at.year, event.occurred_at.month, event.occurred_at.hour) == (
        2025,
        6,
        22,
    )
    assert json.loads(event.model_dump_json())["occurred_at"].startswith("2025-06-30T22:30:00")


def test_occurred_at_with_offset_in_json_is_normalised_to_utc() -> None:
    data = json.loads(SAMPLES[6].model_dump_json())
    data["occurred_at"] = "2025-01-01T01:00:00+05:00"
    parsed = parse_event_strict(json.dumps(data))
    assert parsed.occurred_at.utcoffset() == timedelta(0)
    assert parsed.occurred_at.hour == 20
    assert parsed.occurred_at.day == 31


def test_sla_clock_datetimes_are_normalised_to_utc() -> None:
    minus_five = timezone(timedelta(hours=-5))
    event = SlaWarning(
        **_parties(),
        stage=Stage.DELIVERY,
        started_at=datetime(2025, 1, 1, 20, 0, tzinfo=minus_five),
        deadline=datetime(2025, 1, 1, 21, 0, tzinfo=minus_five),
        target_seconds=3600,
    )
    assert event.started_at == datetime(2025, 1, 2, 1, 0, tzinfo=UTC)
    assert event.started_at.utcoffset() == timedelta(0)
    assert event.deadline.utcoffset() == timedelta(0)


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValidationError):
        OrderShipped(**_parties(occurred_at=datetime(2025, 1, 1, 12, 0)))
    data = json.loads(SAMPLES[6].model_dump_json())
    data["occurred_at"] = "2025-01-01T12:00:00"
    with pytest.raises(ValidationError):
        parse_event_strict(json.dumps(data))


def test_decimal_money_is_serialised_as_a_string_and_survives() -> None:
    placed = OrderPlaced(
        **_parties(),
        lines=(OrderLine(sku="X", quantity=3, unit_price=Decimal("0.10")),),
    )
    data = json.loads(placed.model_dump_json())
    assert data["lines"][0]["unit_price"] == "0.10"
    parsed = parse_event_strict(json.dumps(data))
    assert isinstance(parsed, OrderPlaced)
    price = parsed.lines[0].unit_price
    assert isinstance(price, Decimal)
    assert price == Decimal("0.10")
    assert price * 3 == Decimal("0.30")  # a float would give 0.30000000000000004
    invoice = SAMPLES[8]
    assert isinstance(invoice, InvoiceIssued)
    assert json.loads(invoice.model_dump_json())["total"] == "209.00"


def test_money_with_more_than_two_decimals_is_rejected() -> None:
    with pytest.raises(ValidationError):
        OrderLine(sku="X", quantity=1, unit_price=Decimal("1.005"))


@pytest.mark.parametrize(
    "changes",
    [
        {"lines": ()},
        {"supplier": "frames"},
        {"supplier": "F"},
        {"currency": "EURO"},
        {"priority": "express"},
    ],
)
def test_order_placed_field_rules(changes: dict[str, object]) -> None:
    fields: dict[str, object] = {**_parties(), "lines": LINES, **changes}
    with pytest.raises(ValidationError):
        OrderPlaced(**fields)


def test_order_line_quantity_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        OrderLine(sku="X", quantity=0, unit_price=Decimal("1.00"))


def test_invoice_period_must_be_a_month() -> None:
    data = json.loads(SAMPLES[8].model_dump_json())
    data["period"] = "2025-3"
    with pytest.raises(ValidationError):
        parse_event_strict(json.dumps(data))


def test_events_are_immutable() -> None:
    with pytest.raises(ValidationError):
        SAMPLES[0].order_id = uuid4()  # type: ignore[misc]


# --- topics and registry ---------------------------------------------------------------


def test_topic_names_are_the_contract() -> None:
    assert topics.ORDERS == "supplychain.orders.v1"
    assert topics.FULFILMENT == "supplychain.fulfilment.v1"
    assert topics.INVOICING == "supplychain.invoicing.v1"
    assert topics.SLA == "supplychain.sla.v1"
    assert topics.REFERENCE == "supplychain.reference.v1"
    assert topics.ALL_TOPICS == (
        topics.ORDERS,
        topics.FULFILMENT,
        topics.INVOICING,
        topics.SLA,
        topics.REFERENCE,
        topics.REDRIVES,
    )
    assert topics.REDRIVES == "supplychain.operations.redrives.v1"
    assert topics.COMPACTED_TOPICS == (topics.REFERENCE, topics.REDRIVES)


def test_dead_letter_topics() -> None:
    assert topics.dead_letter_topic(topics.ORDERS) == "supplychain.orders.v1.dlq"
    everything = topics.all_topics_with_dead_letters()
    assert len(everything) == 12
    assert len(set(everything)) == 12
    for topic in topics.ALL_TOPICS:
        assert topic in everything
        assert f"{topic}.dlq" in everything


def test_header_names_are_the_contract() -> None:
    assert topics.HEADER_EVENT_TYPE == "event_type"
    assert topics.HEADER_TRACEPARENT == "traceparent"


@pytest.mark.parametrize(
    ("model", "topic"),
    [
        (OrderPlaced, topics.ORDERS),
        (OrderCancelled, topics.ORDERS),
        (OrderAccepted, topics.FULFILMENT),
        (OrderRejected, topics.FULFILMENT),
        (WorkStarted, topics.FULFILMENT),
        (ComponentsRequested, topics.FULFILMENT),
        (OrderShipped, topics.FULFILMENT),
        (OrderDelivered, topics.FULFILMENT),
        (OrderBlocked, topics.FULFILMENT),
        (FeedbackGiven, topics.FULFILMENT),
        (HelpRequested, topics.FULFILMENT),
        (HelpAwaitingRequester, topics.FULFILMENT),
        (HelpAnswered, topics.FULFILMENT),
        (ComponentsReceived, topics.FULFILMENT),
        (InvoiceIssued, topics.INVOICING),
        (CreditNoteIssued, topics.INVOICING),
        (SlaWarning, topics.SLA),
        (SlaBreached, topics.SLA),
        (SlaPaused, topics.SLA),
        (SlaResumed, topics.SLA),
        (LegalEntityDefined, topics.REFERENCE),
        (DepartmentDefined, topics.REFERENCE),
        (CatalogueItemDefined, topics.REFERENCE),
        (EmployeeDefined, topics.REFERENCE),
        (BusinessCalendarDefined, topics.REFERENCE),
        (SlaPolicyDefined, topics.REFERENCE),
        (RecordRedriven, topics.REDRIVES),
        (OutboxRowsReleased, topics.REDRIVES),
    ],
)
def test_every_event_travels_on_the_contract_topic(model: type[Envelope], topic: str) -> None:
    assert TOPIC_BY_EVENT_TYPE[model.model_fields["event_type"].default] == topic
    assert model in EVENTS_BY_TOPIC[topic]
    sample = next(e for e in SAMPLES if type(e) is model)
    assert topic_for(sample) == topic


def test_registry_topics_are_exactly_the_contract_topics() -> None:
    assert set(EVENTS_BY_TOPIC) == set(topics.ALL_TOPICS)
    assert len(TOPIC_BY_EVENT_TYPE) == 35


def test_a_redrive_is_keyed_by_the_dead_letter_record_it_republished() -> None:
    redrive, release = operations_samples()
    assert release.message_key() == f"fulfilment:outbox:{release.event_id}"
    assert topic_for(release) == topics.REDRIVES
    assert isinstance(redrive, RecordRedriven)
    assert redrive.message_key() == "supplychain.orders.v1.dlq:0:7"
    assert topic_for(redrive) == topics.REDRIVES
    assert "order_id" not in json.loads(redrive.model_dump_json())
