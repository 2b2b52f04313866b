"""Rules of placing, pricing and cancelling an internal order (order_intake.domain, pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from order_intake.domain import (
    CANCELLABLE,
    CancellationStatus,
    CatalogueEntry,
    ChainTrade,
    DepartmentBudget,
    Employee,
    Limits,
    OrderRefused,
    OrderRequest,
    OrderStatus,
    RequestedLine,
    SpendingCheck,
    Translation,
    announced,
    approve,
    budget_standing,
    budget_warnings,
    cancel,
    check_allowance,
    check_chain_rates,
    check_department_spending,
    check_employee_purchase,
    check_employee_spending,
    month_start,
    needs_approval,
    next_status,
    order_total,
    overrun_message,
    place,
    price_lines,
    request_fingerprint,
    status_from_history,
    statuses_after,
    translate_total,
    translated_event_total,
    year_start,
)
from supplychain_contracts import (
    ComponentsRequested,
    Envelope,
    FeedbackGiven,
    InvoiceIssued,
    OrderAccepted,
    OrderCancelled,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    Priority,
    SlaBreached,
    SlaWarning,
    WorkCancelled,
    WorkStarted,
    follow_up,
)
from supplychain_contracts.company import FxRate
from support.events import order_placed

TODAY = date(2025, 6, 15)
DEPARTMENTS = {"ASSEMBLY", "FRAMES", "METALWORKS", "EMPLOYEE_SHOP"}
CATALOGUE = {
    "FRAME-CITY": CatalogueEntry("FRAME-CITY", "FRAMES", Decimal("104.50"), None),
    "TUBE-AL-6061": CatalogueEntry("TUBE-AL-6061", "METALWORKS", Decimal("13.50"), None),
    "SHOP-BIKE-CITY": CatalogueEntry(
        "SHOP-BIKE-CITY", "EMPLOYEE_SHOP", Decimal("299.00"), Decimal("549.00")
    ),
    "SHOP-HELMET": CatalogueEntry(
        "SHOP-HELMET", "EMPLOYEE_SHOP", Decimal("30.00"), Decimal("59.00")
    ),
    "SHOP-GIFT": CatalogueEntry("SHOP-GIFT", "EMPLOYEE_SHOP", Decimal("5.00"), None),
    "SHOP-ODD": CatalogueEntry("SHOP-ODD", "EMPLOYEE_SHOP", Decimal("1.00"), Decimal("9.99")),
}
LIMITS = Limits(max_lines=3, max_quantity=100)


def request(**overrides: Any) -> OrderRequest:
    fields: dict[str, Any] = {
        "requester": "ASSEMBLY",
        "supplier": "FRAMES",
        "lines": (RequestedLine("FRAME-CITY", 2),),
    }
    fields.update(overrides)
    return OrderRequest(**fields)


def price(req: OrderRequest, discount: Decimal | None = None) -> tuple[OrderLine, ...]:
    return price_lines(
        req,
        catalogue=CATALOGUE,
        departments=DEPARTMENTS,
        limits=LIMITS,
        today=TODAY,
        employee_discount_pct=discount,
    )


def refusal(req: OrderRequest, discount: Decimal | None = None) -> OrderRefused:
    with pytest.raises(OrderRefused) as caught:
        price(req, discount)
    assert caught.value.status == 422
    assert str(caught.value) == caught.value.message
    return caught.value


# --- price_lines: accepted orders ------------------------------------------------------


def test_department_pays_the_transfer_price() -> None:
    lines = price(request(lines=(RequestedLine("FRAME-CITY", 3),)))
    assert lines == (OrderLine(sku="FRAME-CITY", quantity=3, unit_price=Decimal("104.50")),)


def test_lines_keep_their_order() -> None:
    lines = price(
        request(
            supplier="EMPLOYEE_SHOP",
            lines=(RequestedLine("SHOP-HELMET", 1), RequestedLine("SHOP-BIKE-CITY", 1)),
        )
    )
    assert [line.sku for line in lines] == ["SHOP-HELMET", "SHOP-BIKE-CITY"]
    assert [line.unit_price for line in lines] == [Decimal("30.00"), Decimal("299.00")]


def test_employee_pays_list_price_less_discount() -> None:
    req = request(
        supplier="EMPLOYEE_SHOP",
        employee_id="E-1001",
        lines=(RequestedLine("SHOP-BIKE-CITY", 1), RequestedLine("SHOP-HELMET", 2)),
    )
    lines = price(req, Decimal("30"))
    assert [line.unit_price for line in lines] == [Decimal("384.30"), Decimal("41.30")]
    assert order_total(lines) == Decimal("466.90")


def test_employee_price_is_quantized_to_cents() -> None:
    req = request(
        supplier="EMPLOYEE_SHOP", employee_id="E-1", lines=(RequestedLine("SHOP-ODD", 1),)
    )
    (line,) = price(req, Decimal("33"))  # 9.99 * 0.67 = 6.6933
    assert line.unit_price == Decimal("6.69")
    assert line.unit_price.as_tuple().exponent == -2
    (line,) = price(req, Decimal("0"))
    assert line.unit_price == Decimal("9.99")


def test_employee_price_rounds_half_up_as_every_amount() -> None:
    req = request(
        supplier="EMPLOYEE_SHOP", employee_id="E-1", lines=(RequestedLine("SHOP-HELMET", 1),)
    )
    # 59.00 * 0.915 = 53.985: half-up gives 53.99 (half-even gave 53.98)
    (line,) = price(req, Decimal("8.5"))
    assert line.unit_price == Decimal("53.99")


def test_a_jpy_supplier_prices_employees_in_whole_yen() -> None:
    req = request(
        supplier="EMPLOYEE_SHOP", employee_id="E-1", lines=(RequestedLine("SHOP-ODD", 1),)
    )
    (line,) = price_lines(
        req,
        catalogue=CATALOGUE,
        departments=DEPARTMENTS,
        limits=LIMITS,
        today=TODAY,
        employee_discount_pct=Decimal("33"),
        currency="JPY",
    )
    assert line.unit_price == Decimal("7")  # 6.6933 yen


# --- currencies ------------------------------------------------------------------------

USD_EUR = FxRate(base="USD", quote="EUR", rate=Decimal("0.9150"), valid_from=date(2025, 1, 1))


def test_a_total_is_translated_at_the_rate_of_its_day_or_refused_naming_the_pair() -> None:
    # 115.50 USD * 0.915 = 105.6825 EUR
    translated = translate_total(
        Decimal("115.50"), currency="USD", requester_currency="EUR", rates=[USD_EUR], day=TODAY
    )
    assert translated == Translation("EUR", Decimal("0.9150"), Decimal("105.68"))
    same = translate_total(
        Decimal("1.00"), currency="EUR", requester_currency="EUR", rates=[], day=TODAY
    )
    assert same == Translation("EUR", None, Decimal("1.00"))
    with pytest.raises(OrderRefused) as refused:
        translate_total(
            Decimal("1.00"),
            currency="USD",
            requester_currency="EUR",
            rates=[USD_EUR],
            day=date(2024, 12, 31),
        )
    assert (refused.value.status, refused.value.field) == (422, "supplier")
    assert refused.value.message == "no exchange rate USD->EUR valid on 2024-12-31"
    with pytest.raises(OrderRefused, match="too large to charge"):
        translate_total(
            Decimal("9999999999.00"),
            currency="USD",
            requester_currency="EUR",
            rates=[USD_EUR.model_copy(update={"rate": Decimal("9999999")})],
            day=TODAY,
        )


def test_a_chain_needs_a_rate_for_every_pair_it_trades() -> None:
    trades = [ChainTrade("WHEEL-28", buyer_currency="EUR", seller_currency="USD")]
    check_chain_rates(trades, [USD_EUR], TODAY)  # the inverse serves just as well
    check_chain_rates(
        [ChainTrade("X", buyer_currency="USD", seller_currency="EUR")], [USD_EUR], TODAY
    )
    with pytest.raises(OrderRefused) as refused:
        check_chain_rates(trades, [], TODAY)
    assert refused.value.field == "lines"
    assert refused.value.message == "no exchange rate USD->EUR valid on 2025-06-15"


def test_a_sub_order_charges_at_the_rate_it_carries() -> None:
    event = OrderPlaced(
        order_id=uuid4(),
        root_order_id=uuid4(),
        producer="fulfilment",
        supplier="WHEELS",
        requester="ASSEMBLY",
        lines=(OrderLine(sku="WHEEL-28", quantity=3, unit_price=Decimal("38.50")),),
        currency="USD",
        requester_currency="EUR",
        fx_rate=Decimal("0.9150"),
    )
    assert translated_event_total(event) == Translation("EUR", Decimal("0.9150"), Decimal("105.68"))
    same = event.model_copy(update={"requester_currency": None, "fx_rate": None})
    assert translated_event_total(same) == Translation("USD", None, Decimal("115.50"))


def test_a_sub_order_recorded_late_starts_from_its_handoffs() -> None:
    assert status_from_history([]) is OrderStatus.PLACED
    assert status_from_history(["OrderAccepted", "WorkStarted"]) is OrderStatus.IN_PROGRESS
    assert status_from_history(["OrderAccepted", "WorkCancelled"]) is OrderStatus.CANCELLED
    assert status_from_history(["OrderShipped", "OrderAccepted"]) is OrderStatus.SHIPPED


def test_the_budget_standing_counts_sub_orders_and_the_overrun() -> None:
    budget = DepartmentBudget("FRAMES", Decimal("1000.00"), currency="USD")
    within = budget_standing(budget, own_orders=Decimal("600.00"), sub_orders=Decimal("300.00"))
    assert (within.committed, within.remaining, within.overrun, within.over_budget) == (
        Decimal("900.00"),
        Decimal("100.00"),
        Decimal("0.00"),
        False,
    )
    over = budget_standing(budget, own_orders=Decimal("600.00"), sub_orders=Decimal("450.00"))
    assert (over.remaining, over.overrun, over.over_budget) == (
        Decimal("0.00"),
        Decimal("50.00"),
        True,
    )
    message = overrun_message(budget, committed_this_month=Decimal("600.00"), total=Decimal("450"))
    assert "over its monthly budget of 1000.00 USD" in message


def test_a_pending_cancellation_is_not_asked_twice_and_a_sub_order_not_at_all() -> None:
    pending = cancel(
        order_id=uuid4(),
        root_order_id=uuid4(),
        status=OrderStatus.ACCEPTED,
        cancellation=CancellationStatus.REQUESTED,
        supplier="FRAMES",
        requester="ASSEMBLY",
        employee_id=None,
        reason="",
        causation_id=None,
    )
    assert pending is None
    with pytest.raises(OrderRefused) as refused:
        cancel(
            order_id=uuid4(),
            root_order_id=uuid4(),
            status=OrderStatus.ACCEPTED,
            cancellation=None,
            supplier="WHEELS",
            requester="ASSEMBLY",
            employee_id=None,
            reason="",
            causation_id=None,
            parent_order_id=uuid4(),
        )
    assert refused.value.status == 409


def test_employee_of_the_shop_department_may_buy_from_it() -> None:
    req = request(
        requester="EMPLOYEE_SHOP",
        supplier="EMPLOYEE_SHOP",
        employee_id="E-9",
        lines=(RequestedLine("SHOP-HELMET", 1),),
    )
    (line,) = price(req, Decimal("50"))
    assert line.unit_price == Decimal("29.50")


def test_needed_by_today_and_limits_at_their_bounds_are_accepted() -> None:
    req = request(
        needed_by=TODAY,
        lines=(
            RequestedLine("FRAME-CITY", 1),
            RequestedLine("FRAME-CITY", LIMITS.max_quantity),
            RequestedLine("FRAME-CITY", 5),
        ),
    )
    assert [line.quantity for line in price(req)] == [1, 100, 5]


# --- price_lines: refusals -------------------------------------------------------------


def test_unknown_requester_is_refused() -> None:
    refused = refusal(request(requester="GHOSTS"))
    assert refused.field == "requester"
    assert refused.message == "unknown requesting department GHOSTS"


def test_unknown_supplier_is_refused() -> None:
    refused = refusal(request(supplier="GHOSTS"))
    assert refused.field == "supplier"
    assert refused.message == "unknown supplying department GHOSTS"


@pytest.mark.parametrize("field", ["requester", "supplier"])
def test_a_department_removed_from_the_company_is_refused_as_such(field: str) -> None:
    with pytest.raises(OrderRefused) as caught:
        price_lines(
            request(**{field: "PAINTSHOP"}),
            catalogue=CATALOGUE,
            departments=DEPARTMENTS,
            limits=LIMITS,
            today=TODAY,
            inactive_departments={"PAINTSHOP"},
        )
    assert caught.value.field == field
    assert (
        caught.value.message == "PAINTSHOP is no longer a department of the company (deactivated)"
    )


def test_an_item_removed_from_the_catalogue_is_refused_naming_its_line() -> None:
    removed = CatalogueEntry("FRAME-OLD", "FRAMES", Decimal("1.00"), None, active=False)
    with pytest.raises(OrderRefused) as caught:
        price_lines(
            request(lines=(RequestedLine("FRAME-CITY", 1), RequestedLine("FRAME-OLD", 1))),
            catalogue={**CATALOGUE, "FRAME-OLD": removed},
            departments=DEPARTMENTS,
            limits=LIMITS,
            today=TODAY,
        )
    assert caught.value.field == "lines.1.sku"
    assert caught.value.message == "FRAME-OLD is no longer in the catalogue (deactivated)"


def test_department_cannot_order_from_itself() -> None:
    refused = refusal(request(requester="FRAMES", supplier="FRAMES"))
    assert refused.field == "supplier"
    assert refused.message == "a department cannot order from itself"


def test_order_without_lines_is_refused() -> None:
    refused = refusal(request(lines=()))
    assert refused.field == "lines"
    assert "at least one line" in refused.message


def test_too_many_lines_are_refused() -> None:
    refused = refusal(request(lines=(RequestedLine("FRAME-CITY", 1),) * 4))
    assert refused.field == "lines"
    assert refused.message == "an order has at most 3 lines"


def test_needed_by_in_the_past_is_refused() -> None:
    refused = refusal(request(needed_by=TODAY - timedelta(days=1)))
    assert refused.field == "needed_by"
    assert refused.message == "needed_by is in the past"


def test_unknown_sku_is_refused_naming_its_line() -> None:
    refused = refusal(
        request(lines=(RequestedLine("FRAME-CITY", 1), RequestedLine("FRAME-CARGO", 1)))
    )
    assert refused.field == "lines.1.sku"
    assert refused.message == "unknown sku FRAME-CARGO"


def test_sku_of_another_supplier_is_refused() -> None:
    refused = refusal(request(lines=(RequestedLine("TUBE-AL-6061", 1),)))
    assert refused.field == "lines.0.sku"
    assert refused.message == "TUBE-AL-6061 is supplied by METALWORKS, not FRAMES"


@pytest.mark.parametrize("quantity", [0, -1, LIMITS.max_quantity + 1])
def test_quantity_out_of_bounds_is_refused(quantity: int) -> None:
    refused = refusal(
        request(lines=(RequestedLine("FRAME-CITY", 1), RequestedLine("FRAME-CITY", quantity)))
    )
    assert refused.field == "lines.1.quantity"
    assert refused.message == "quantity must be between 1 and 100"


def test_employee_cannot_buy_an_item_without_list_price() -> None:
    refused = refusal(
        request(
            supplier="EMPLOYEE_SHOP",
            employee_id="E-1001",
            lines=(RequestedLine("SHOP-HELMET", 1), RequestedLine("SHOP-GIFT", 1)),
        ),
        Decimal("30"),
    )
    assert refused.field == "lines.1.sku"
    assert refused.message == "SHOP-GIFT is not sold to employees"


def test_employee_cannot_buy_from_a_department_that_is_no_shop() -> None:
    # the caller passes no discount when the supplier is not an employee shop
    refused = refusal(
        request(
            supplier="EMPLOYEE_SHOP", employee_id="E-1", lines=(RequestedLine("SHOP-HELMET", 1),)
        ),
        None,
    )
    assert refused.field == "lines.0.sku"
    assert "not sold to employees" in refused.message
    refused = refusal(request(employee_id="E-1"), None)
    assert refused.field == "lines.0.sku"
    assert refused.message == "FRAME-CITY is not sold to employees"


# --- totals, fingerprints, events ------------------------------------------------------


def test_order_total() -> None:
    lines = (
        OrderLine(sku="A", quantity=3, unit_price=Decimal("0.10")),
        OrderLine(sku="B", quantity=2, unit_price=Decimal("104.50")),
    )
    total = order_total(lines)
    assert total == Decimal("209.30")
    assert isinstance(total, Decimal)
    assert order_total(()) == Decimal("0.00")


def test_request_fingerprint_is_stable_under_key_order() -> None:
    a = {"supplier": "FRAMES", "requester": "ASSEMBLY", "lines": [{"sku": "X", "quantity": 1}]}
    b = {"lines": [{"quantity": 1, "sku": "X"}], "requester": "ASSEMBLY", "supplier": "FRAMES"}
    assert request_fingerprint(a) == request_fingerprint(b)
    assert len(request_fingerprint(a)) == 64


def test_request_fingerprint_differs_when_the_body_differs() -> None:
    a = {"supplier": "FRAMES", "lines": [{"sku": "X", "quantity": 1}]}
    b = {"supplier": "FRAMES", "lines": [{"sku": "X", "quantity": 2}]}
    c = {"supplier": "FRAMES", "lines": [{"sku": "X", "quantity": 1}], "priority": "rush"}
    assert len({request_fingerprint(a), request_fingerprint(b), request_fingerprint(c)}) == 3


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6), st.randoms())
def test_request_fingerprint_ignores_key_order_property(body: dict[str, Any], rnd: Any) -> None:
    def shuffled(value: Any) -> Any:
        if isinstance(value, dict):
            items = [(k, shuffled(v)) for k, v in value.items()]
            rnd.shuffle(items)
            return dict(items)
        if isinstance(value, list):
            return [shuffled(v) for v in value]
        return value

    assert request_fingerprint(shuffled(body)) == request_fingerprint(body)


def test_place_builds_a_root_order_event() -> None:
    req = request(priority=Priority.RUSH, needed_by=TODAY)
    lines = price(req)
    event = place(req, lines, currency="EUR")
    assert event.event_type == "OrderPlaced"
    assert event.order_id == event.root_order_id
    assert event.parent_order_id is None
    assert event.causation_id is None
    assert event.producer == "order-intake"
    assert (event.requester, event.supplier) == ("ASSEMBLY", "FRAMES")
    assert event.lines == lines
    assert event.priority is Priority.RUSH
    assert event.needed_by == TODAY
    assert place(req, lines, currency="EUR").order_id != event.order_id


def _cancel(status: OrderStatus) -> Any:
    return cancel(
        order_id=uuid4(),
        root_order_id=uuid4(),
        status=status,
        cancellation=None,
        supplier="FRAMES",
        requester="ASSEMBLY",
        employee_id=None,
        reason="plans changed",
        causation_id=uuid4(),
    )


@pytest.mark.parametrize("status", sorted(CANCELLABLE))
def test_cancel_before_shipping_emits_order_cancelled(status: OrderStatus) -> None:
    event = _cancel(status)
    assert event.event_type == "OrderCancelled"
    assert event.reason == "plans changed"
    assert event.producer == "order-intake"


@pytest.mark.parametrize(
    "status",
    [
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.INVOICED,
        OrderStatus.REJECTED,
        OrderStatus.CANCELLED,
    ],
)
def test_cancel_is_refused_with_409_once_shipped_or_closed(status: OrderStatus) -> None:
    with pytest.raises(OrderRefused) as caught:
        _cancel(status)
    assert caught.value.status == 409
    assert caught.value.field == "order_id"
    assert caught.value.message == f"the order is {status.value} and can no longer be cancelled"
    assert caught.value.status_now is status  # answered as `status_now`


# --- next_status -----------------------------------------------------------------------

HAPPY_PATH: list[tuple[type[Envelope], OrderStatus]] = [
    (OrderAccepted, OrderStatus.ACCEPTED),
    (WorkStarted, OrderStatus.IN_PROGRESS),
    (ComponentsRequested, OrderStatus.AWAITING_COMPONENTS),
    (OrderShipped, OrderStatus.SHIPPED),
    (OrderDelivered, OrderStatus.DELIVERED),
    (InvoiceIssued, OrderStatus.INVOICED),
]


def test_next_status_follows_the_happy_path() -> None:
    status = OrderStatus.PLACED
    for event, expected in HAPPY_PATH:
        status = next_status(status, event)
        assert status is expected


@pytest.mark.parametrize(
    ("current", "event"),
    [
        (OrderStatus.SHIPPED, OrderAccepted),
        (OrderStatus.SHIPPED, WorkStarted),
        (OrderStatus.AWAITING_COMPONENTS, WorkStarted),
        (OrderStatus.DELIVERED, OrderShipped),
        (OrderStatus.INVOICED, OrderDelivered),
        (OrderStatus.ACCEPTED, OrderAccepted),
    ],
)
def test_next_status_never_moves_backwards(current: OrderStatus, event: type[Envelope]) -> None:
    assert next_status(current, event) is current


def test_a_late_event_skips_ahead() -> None:
    assert next_status(OrderStatus.PLACED, OrderShipped) is OrderStatus.SHIPPED
    assert next_status(OrderStatus.ACCEPTED, InvoiceIssued) is OrderStatus.INVOICED


def test_unknown_or_own_events_leave_the_status_alone() -> None:
    assert next_status(OrderStatus.ACCEPTED, OrderPlaced) is OrderStatus.ACCEPTED
    assert next_status(OrderStatus.ACCEPTED, SlaBreached) is OrderStatus.ACCEPTED
    assert next_status(OrderStatus.SHIPPED, FeedbackGiven) is OrderStatus.SHIPPED


def placed_for(requester: str = "ASSEMBLY") -> OrderPlaced:
    return order_placed(producer="order-intake", requester=requester, unit_price="104.50")


def test_statuses_after_a_run_of_events_fold_them_in_order_per_order() -> None:
    a, b, elsewhere = placed_for(), placed_for(), placed_for()
    current = {a.order_id: OrderStatus.PLACED, b.order_id: OrderStatus.ACCEPTED}
    events = [
        follow_up(a, OrderAccepted, producer="fulfilment"),
        follow_up(b, OrderShipped, producer="fulfilment"),
        follow_up(elsewhere, OrderShipped, producer="fulfilment"),  # not ours: ignored
        follow_up(a, WorkStarted, producer="fulfilment"),
        follow_up(b, WorkStarted, producer="fulfilment"),  # late: never back
    ]
    assert statuses_after(current, events) == {
        a.order_id: OrderStatus.IN_PROGRESS,
        b.order_id: OrderStatus.SHIPPED,
    }


def test_statuses_after_leaves_out_what_did_not_change() -> None:
    a = placed_for()
    current = {a.order_id: OrderStatus.SHIPPED}
    assert statuses_after(current, [follow_up(a, OrderAccepted, producer="fulfilment")]) == {}
    # rejected after accepted in the same run: the last word counts, as one at a time would
    b = placed_for()
    run = [
        follow_up(b, OrderAccepted, producer="fulfilment"),
        follow_up(b, OrderRejected, producer="fulfilment", reason="no capacity"),
    ]
    assert statuses_after({b.order_id: OrderStatus.PLACED}, run) == {
        b.order_id: OrderStatus.REJECTED
    }


def test_rejection_and_cancellation() -> None:
    assert next_status(OrderStatus.PLACED, OrderRejected) is OrderStatus.REJECTED
    # the supplier's settlement cancels, never the request (issue 21)
    assert next_status(OrderStatus.IN_PROGRESS, OrderCancelled) is OrderStatus.IN_PROGRESS
    assert next_status(OrderStatus.IN_PROGRESS, WorkCancelled) is OrderStatus.CANCELLED
    # too late: the order already left the supplier
    assert next_status(OrderStatus.SHIPPED, WorkCancelled) is OrderStatus.SHIPPED
    assert next_status(OrderStatus.DELIVERED, OrderRejected) is OrderStatus.DELIVERED
    # terminal states stay terminal
    for event, _ in HAPPY_PATH:
        assert next_status(OrderStatus.REJECTED, event) is OrderStatus.REJECTED
        assert next_status(OrderStatus.CANCELLED, event) is OrderStatus.CANCELLED
    assert next_status(OrderStatus.REJECTED, OrderCancelled) is OrderStatus.REJECTED
    assert next_status(OrderStatus.CANCELLED, OrderRejected) is OrderStatus.CANCELLED


PROGRESS = [
    OrderStatus.PLACED,
    OrderStatus.ACCEPTED,
    OrderStatus.IN_PROGRESS,
    OrderStatus.AWAITING_COMPONENTS,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.INVOICED,
]
TERMINAL = {OrderStatus.REJECTED, OrderStatus.CANCELLED}
EVENT_CLASSES: list[type[Envelope]] = [
    OrderAccepted,
    OrderRejected,
    WorkStarted,
    ComponentsRequested,
    OrderShipped,
    OrderDelivered,
    InvoiceIssued,
    OrderCancelled,
    OrderPlaced,
    SlaWarning,
]


@given(st.lists(st.sampled_from(EVENT_CLASSES), max_size=30))
def test_next_status_is_monotonic_over_any_event_sequence(events: list[type[Envelope]]) -> None:
    status = OrderStatus.PLACED
    for event in events:
        new = next_status(status, event)
        if status in TERMINAL:
            assert new is status
        elif new in TERMINAL:
            assert status in CANCELLABLE
        else:
            assert PROGRESS.index(new) >= PROGRESS.index(status)
        status = new


@given(st.permutations([event for event, _ in HAPPY_PATH]))
def test_any_delivery_order_of_the_happy_path_ends_invoiced(events: list[type[Envelope]]) -> None:
    status = OrderStatus.PLACED
    for event in events:
        status = next_status(status, event)
    assert status is OrderStatus.INVOICED


# --- budgets ---------------------------------------------------------------------------

LOGISTICS = DepartmentBudget("LOGISTICS", Decimal("30000.00"))
FACILITIES = DepartmentBudget("FACILITIES", Decimal("20000.00"), over_budget="warn")


def test_an_order_within_the_budget_passes_without_warnings() -> None:
    assert (
        budget_warnings(
            LOGISTICS, committed_this_month=Decimal("9000.00"), total=Decimal("21000.00")
        )
        == ()
    )  # exactly the budget is still within it


def test_an_order_over_the_budget_is_refused_with_the_figures() -> None:
    with pytest.raises(OrderRefused) as caught:
        budget_warnings(
            LOGISTICS, committed_this_month=Decimal("21000.00"), total=Decimal("9000.01")
        )
    assert caught.value.status == 422
    assert caught.value.field == "total"
    assert caught.value.message == (
        "this order (9000.01 EUR) takes LOGISTICS to 30000.01 EUR this month, over its "
        "monthly budget of 30000.00 EUR (21000.00 EUR already committed, 9000.00 EUR left)"
    )


def test_a_department_already_over_budget_has_nothing_left() -> None:
    with pytest.raises(OrderRefused) as caught:
        budget_warnings(LOGISTICS, committed_this_month=Decimal("31000.00"), total=Decimal("1"))
    assert "0.00 EUR left" in caught.value.message


def test_a_warning_department_accepts_over_budget_with_a_warning() -> None:
    (warning,) = budget_warnings(
        FACILITIES, committed_this_month=Decimal("0.00"), total=Decimal("21600.00")
    )
    assert "takes FACILITIES to 21600.00 EUR" in warning
    assert "monthly budget of 20000.00 EUR" in warning
    assert budget_warnings(FACILITIES, committed_this_month=Decimal("0"), total=Decimal("5")) == ()


@given(
    committed=st.decimals(min_value=0, max_value=100_000, places=2),
    total=st.decimals(min_value=0, max_value=100_000, places=2),
)
def test_budget_refuses_exactly_when_the_month_would_exceed_it(
    committed: Decimal, total: Decimal
) -> None:
    over = committed + total > LOGISTICS.monthly_budget
    try:
        warnings = budget_warnings(LOGISTICS, committed_this_month=committed, total=total)
    except OrderRefused:
        assert over
    else:
        assert not over and warnings == ()
    warned = budget_warnings(FACILITIES, committed_this_month=committed, total=total)
    assert bool(warned) == (committed + total > FACILITIES.monthly_budget)


def test_calendar_month_and_year_are_counted_in_utc() -> None:
    # 00:30 on 1 July in Berlin is still June in UTC
    berlin = timezone(timedelta(hours=2))
    now = datetime(2025, 7, 1, 0, 30, tzinfo=berlin)
    assert month_start(now) == datetime(2025, 6, 1, tzinfo=UTC)
    assert year_start(now) == datetime(2025, 1, 1, tzinfo=UTC)
    assert month_start(datetime(2025, 12, 31, 23, 59, tzinfo=UTC)) == datetime(
        2025, 12, 1, tzinfo=UTC
    )


# --- approval --------------------------------------------------------------------------

MARKETING = DepartmentBudget(
    "MARKETING", Decimal("50000.00"), approval_threshold=Decimal("10000.00")
)


def test_orders_above_the_threshold_need_approval() -> None:
    assert needs_approval(MARKETING, Decimal("10000.01"))
    assert not needs_approval(MARKETING, Decimal("10000.00"))
    assert not needs_approval(LOGISTICS, Decimal("1000000.00"))  # no threshold


def test_a_department_order_is_placed_warned_or_held_for_approval() -> None:
    def check(budget: DepartmentBudget, total: str) -> SpendingCheck:
        return check_department_spending(
            budget, committed_this_month=Decimal("15000.00"), total=Decimal(total)
        )

    assert check(MARKETING, "5000.00") == SpendingCheck(
        OrderStatus.PLACED, holds_to=Decimal("45000.00")
    )
    assert check(MARKETING, "10000.01") == SpendingCheck(
        OrderStatus.PENDING_APPROVAL, holds_to=Decimal("39999.99")
    )
    warned = check(FACILITIES, "6000.00")
    assert warned.status is OrderStatus.PLACED
    assert len(warned.warnings) == 1
    with pytest.raises(OrderRefused):
        check(LOGISTICS, "15000.01")


def test_a_spending_check_holds_for_the_running_totals_that_give_the_same_outcome() -> None:
    """What lets a placement store its order without locking the running total while it
    checks: stored against another total, the outcome must be the one that total gives."""
    within = check_department_spending(
        LOGISTICS, committed_this_month=Decimal("10000.00"), total=Decimal("5000.00")
    )
    assert within.holds_for(Decimal("0.00")) and within.holds_for(Decimal("25000.00"))
    assert not within.holds_for(Decimal("25000.01"))  # would be refused
    warned = check_department_spending(
        FACILITIES, committed_this_month=Decimal("19000.00"), total=Decimal("2000.00")
    )
    assert warned.holds_for(Decimal("19000.00"))
    # the warning names the total committed: another total gives another warning
    assert not warned.holds_for(Decimal("19000.01"))
    assert not warned.holds_for(Decimal("18999.99"))
    bought = check_employee_spending(ADA, spent_this_year=Decimal("0"), total=Decimal("500"))
    assert bought.holds_for(Decimal("1500.00")) and not bought.holds_for(Decimal("1500.01"))


def _approve(status: OrderStatus, approver: str, placed_by: str | None = "marketing-1") -> Any:
    req = request(requester="MARKETING", supplier="RETAIL_OPS", priority=Priority.RUSH)
    lines = (OrderLine(sku="DEMO-BIKE-SET", quantity=11, unit_price=Decimal("945.00")),)
    return approve(
        order_id=ORDER_ID,
        status=status,
        placed_by_key_id=placed_by,
        approver_key_id=approver,
        request=req,
        lines=lines,
        currency="EUR",
    )


ORDER_ID = uuid4()


def test_a_second_key_approves_and_the_order_is_placed() -> None:
    event = _approve(OrderStatus.PENDING_APPROVAL, "marketing-2")
    assert event.event_type == "OrderPlaced"
    assert event.order_id == ORDER_ID and event.root_order_id == ORDER_ID
    assert (event.requester, event.supplier) == ("MARKETING", "RETAIL_OPS")
    assert event.priority is Priority.RUSH
    assert event.lines[0].unit_price == Decimal("945.00")


def test_the_placing_key_cannot_approve() -> None:
    with pytest.raises(OrderRefused) as caught:
        _approve(OrderStatus.PENDING_APPROVAL, "marketing-1")
    assert caught.value.status == 403
    assert caught.value.field == "Authorization"
    with pytest.raises(OrderRefused):  # who placed it is unknown: nobody can be the second key
        _approve(OrderStatus.PENDING_APPROVAL, "marketing-2", placed_by=None)


@pytest.mark.parametrize(
    "status", [s for s in OrderStatus if s is not OrderStatus.PENDING_APPROVAL]
)
def test_only_a_pending_order_can_be_approved(status: OrderStatus) -> None:
    with pytest.raises(OrderRefused) as caught:
        _approve(status, "marketing-2")
    assert caught.value.status == 409
    assert caught.value.message.startswith(f"the order is {status.value}")


def test_a_pending_order_is_never_announced() -> None:
    pending = OrderStatus.PENDING_APPROVAL
    assert not announced(pending)
    assert all(announced(s) for s in OrderStatus if s is not pending)
    assert pending not in CANCELLABLE  # withdrawn without an OrderCancelled instead


def test_a_pending_order_is_not_moved_by_fulfilment_events_backwards() -> None:
    assert next_status(OrderStatus.PENDING_APPROVAL, OrderAccepted) is OrderStatus.ACCEPTED
    assert next_status(OrderStatus.PLACED, FeedbackGiven) is OrderStatus.PLACED


# --- employee purchases ----------------------------------------------------------------

ADA = Employee("E-1001", "ASSEMBLY", Decimal("2000.00"))


def _shop(employee_id: str | None = "E-1001", supplier: str = "EMPLOYEE_SHOP") -> OrderRequest:
    return request(
        supplier=supplier, employee_id=employee_id, lines=(RequestedLine("SHOP-BIKE-CITY", 1),)
    )


def test_an_employee_buys_through_their_department_from_the_shop() -> None:
    check_employee_purchase(_shop(), ADA, supplier_is_employee_shop=True)
    check_employee_purchase(request(), None, supplier_is_employee_shop=False)  # no employee


@pytest.mark.parametrize(
    ("req", "employee", "shop", "field", "message"),
    [
        (_shop("E-0"), None, True, "employee_id", "unknown employee E-0"),
        (
            _shop("E-1002"),
            Employee("E-1002", "FRAMES", Decimal("1500.00")),
            True,
            "employee_id",
            "E-1002 is not an employee of ASSEMBLY",
        ),
        (
            _shop(supplier="FRAMES"),
            ADA,
            False,
            "supplier",
            "employees buy only from the employee shop; FRAMES is not one",
        ),
    ],
)
def test_employee_purchase_refusals(
    req: OrderRequest, employee: Employee | None, shop: bool, field: str, message: str
) -> None:
    with pytest.raises(OrderRefused) as caught:
        check_employee_purchase(req, employee, supplier_is_employee_shop=shop)
    assert (caught.value.status, caught.value.field, caught.value.message) == (422, field, message)


def test_an_employee_purchase_within_the_allowance_is_placed_at_once() -> None:
    assert check_employee_purchase(_shop(), ADA, supplier_is_employee_shop=True) == ADA
    assert check_employee_purchase(request(), None, supplier_is_employee_shop=False) is None
    checked = check_employee_spending(ADA, spent_this_year=Decimal("0"), total=Decimal("2000"))
    assert checked == SpendingCheck(OrderStatus.PLACED, holds_to=Decimal("0.00"))
    with pytest.raises(OrderRefused):
        check_employee_spending(ADA, spent_this_year=Decimal("0.01"), total=Decimal("2000"))


def test_the_yearly_allowance_caps_employee_purchases() -> None:
    check_allowance(ADA, spent_this_year=Decimal("1921.50"), total=Decimal("78.50"))
    with pytest.raises(OrderRefused) as caught:
        check_allowance(ADA, spent_this_year=Decimal("1921.50"), total=Decimal("384.30"))
    assert caught.value.field == "employee_id"
    assert caught.value.message == (
        "this order (384.30 EUR) takes E-1001 to 2305.80 EUR this year, over the yearly "
        "allowance of 2000.00 EUR (1921.50 EUR already spent, 78.50 EUR left)"
    )
