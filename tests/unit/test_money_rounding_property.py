"""One rounding rule (issue 21, item 7), as a property: every amount the platform computes (a
price after a markup or an employee discount, an invoice line and total, a service credit, a
translation into the requester's currency) equals its exact value rounded half-up to the
currency's minor unit. The exact value is computed here with fractions (no Decimal context in
between) and rounded by hand, so neither the arithmetic nor the rule is taken on trust.

Amounts span what the contracts admit (18 digits, 2 decimals; rates 20 digits, 10 decimals):
an amount times a rate may need 38 digits, more than Decimal's default context keeps, and
nothing may be rounded before the one rounding.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from uuid import uuid4

from hypothesis import example, given, settings
from hypothesis import strategies as st
from invoicing.domain import (
    CreditTerms,
    IssuedInvoice,
    Party,
    credit_note_for,
    invoice_for_delivery,
    sla_credit_amount,
)
from invoicing.ledger import DatedAmounts, group_view
from order_intake.domain import (
    CatalogueEntry,
    Limits,
    OrderRequest,
    RequestedLine,
    price_lines,
    translate_total,
)
from supplychain_contracts import CreditKind, OrderDelivered, OrderLine
from supplychain_contracts.company import CatalogueItem, CostPlus
from supplychain_contracts.company import FxRate as Rate
from supplychain_contracts.money import percent_of, round_money, translate

# Decimals amounts carry per currency (three-decimal currencies are kept to a hundredth).
MINOR_UNIT = {"EUR": 2, "USD": 2, "CHF": 2, "JPY": 0, "KRW": 0, "KWD": 2}
CURRENCIES = st.sampled_from(sorted(MINOR_UNIT))
MAX_AMOUNT = Decimal("9999999999999999.99")  # numeric(18, 2)
RATES = st.decimals(
    min_value=Decimal("0.0000000001"), max_value=Decimal("9999999999.9999999999"), places=10
)
# What a policy may say (the helpers take any), and what the services store (numeric(5, 2)).
ANY_PERCENTS = st.decimals(min_value=Decimal(0), max_value=Decimal(100), places=12)
PERCENTS = st.decimals(min_value=Decimal(0), max_value=Decimal(100), places=2)
DAY = date(2026, 3, 2)


def half_up(exact: Fraction, currency: str) -> Decimal:
    """`exact` rounded half-up (ties away from zero) to the currency's minor unit."""
    places = MINOR_UNIT[currency]
    scaled = abs(exact) * 10**places
    units = math.floor(scaled + Fraction(1, 2))
    return Decimal(f"{units if exact >= 0 else -units}E-{places}")  # exact: no context


def assert_rounded(computed: Decimal, exact: Fraction, currency: str) -> None:
    expected = half_up(exact, currency)
    assert computed == expected, f"{computed} != {expected} (exact {exact})"
    assert computed.as_tuple().exponent == -MINOR_UNIT[currency], computed


def amounts(currency: str, *, max_value: Decimal = MAX_AMOUNT) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=Decimal(0), max_value=max_value, places=MINOR_UNIT[currency])


def rates_for(amount: Decimal) -> st.SearchStrategy[Decimal]:
    """Rates whose translation of `amount` still fits an amount (numeric(18, 2))."""
    most = Decimal("9999999999.9999999999")
    if amount > 0:
        most = min(most, (MAX_AMOUNT / amount).quantize(Decimal("1e-10"), rounding=ROUND_DOWN))
    return st.decimals(min_value=Decimal("0.0000000001"), max_value=most, places=10)


def exact(*factors: Decimal | int) -> Fraction:
    product = Fraction(1)
    for factor in factors:
        product *= Fraction(factor)
    return product


# --- the money helpers -------------------------------------------------------------------


@given(currency=CURRENCIES, value=st.decimals(allow_nan=False, allow_infinity=False, places=6))
@example(currency="EUR", value=Decimal("0.005"))
@example(currency="EUR", value=Decimal("-0.005"))
@example(currency="JPY", value=Decimal("2.5"))
def test_round_money_is_half_up_to_the_minor_unit(currency: str, value: Decimal) -> None:
    assert_rounded(round_money(value, currency), Fraction(value), currency)


@given(data=st.data(), currency=CURRENCIES, pct=ANY_PERCENTS)
@example(data=None, currency="EUR", pct=Decimal("12.5"))
def test_percent_of_an_amount(data: st.DataObject | None, currency: str, pct: Decimal) -> None:
    amount = Decimal("0.10") if data is None else data.draw(amounts(currency))  # 0.0125
    assert_rounded(percent_of(amount, pct, currency), exact(amount, pct) / 100, currency)


@given(data=st.data(), currency=CURRENCIES, rate=RATES)
# exactly ...161.004999999995: 29 digits, which the default context rounds up to ...161.005
@example(data=None, currency="EUR", rate=Decimal("1.2345678901"))
def test_translate_at_a_rate(data: st.DataObject | None, currency: str, rate: Decimal) -> None:
    amount = Decimal("9000002720473444.95") if data is None else data.draw(amounts(currency))
    assert_rounded(translate(amount, rate, currency), exact(amount, rate), currency)


# --- prices ------------------------------------------------------------------------------


@given(
    cost=amounts("EUR"),
    markup=st.decimals(min_value=Decimal(0), max_value=Decimal(1000), places=4),
)
@example(cost=Decimal("0.10"), markup=Decimal("5"))  # 0.105
def test_a_cost_plus_transfer_price(cost: Decimal, markup: Decimal) -> None:
    item = CatalogueItem(
        sku="X",
        name="x",
        supplier="FRAMES",
        unit="piece",
        standard_cost=cost,
        transfer_price_rule=CostPlus(markup_pct=markup),
        lead_time_days=0,
    )
    assert_rounded(item.transfer_price, exact(cost) * (1 + exact(markup) / 100), "EUR")


@given(
    data=st.data(),
    currency=CURRENCIES,
    discount=st.decimals(min_value=Decimal(0), max_value=Decimal(100), places=2),
    quantity=st.integers(min_value=1, max_value=10_000),
)
@example(data=None, currency="EUR", discount=Decimal("30"), quantity=1)
def test_an_employee_price_after_the_discount(
    data: st.DataObject | None, currency: str, discount: Decimal, quantity: int
) -> None:
    list_price = Decimal("0.05") if data is None else data.draw(amounts(currency))  # 0.035
    entry = CatalogueEntry("SHOP-ITEM", "SHOP", Decimal("1.00"), list_price)
    request = OrderRequest(
        requester="WHEELS",
        supplier="SHOP",
        lines=(RequestedLine("SHOP-ITEM", quantity),),
        employee_id="E-1",
    )
    [line] = price_lines(
        request,
        catalogue={entry.sku: entry},
        departments={"WHEELS", "SHOP"},
        limits=Limits(max_lines=50, max_quantity=10_000),
        today=DAY,
        employee_discount_pct=discount,
        currency=currency,
    )
    assert_rounded(line.unit_price, exact(list_price) * (100 - exact(discount)) / 100, currency)


@given(data=st.data(), pair=st.permutations(sorted(MINOR_UNIT)))
def test_an_order_total_in_the_requesters_currency(data: st.DataObject, pair: list[str]) -> None:
    currency, requester_currency = pair[0], pair[1]
    total = data.draw(amounts(currency))
    rate = data.draw(rates_for(total))
    rates = [Rate(base=currency, quote=requester_currency, rate=rate, valid_from=DAY)]
    translation = translate_total(
        total, currency=currency, requester_currency=requester_currency, rates=rates, day=DAY
    )
    assert translation.fx_rate == rate
    assert_rounded(translation.requester_total, exact(total, rate), requester_currency)


# --- invoices and credits ----------------------------------------------------------------


@settings(max_examples=60)
@given(data=st.data(), currency=CURRENCIES)
def test_an_invoice_its_lines_total_and_requester_total(data: st.DataObject, currency: str) -> None:
    lines = data.draw(
        st.lists(
            st.tuples(
                amounts(currency, max_value=Decimal("99999999.99")),
                st.integers(min_value=1, max_value=10_000),
            ),
            min_size=1,
            max_size=5,
        )
    )
    requester_currency = "CHF" if currency != "CHF" else "EUR"
    total = sum((exact(price, quantity) for price, quantity in lines), Fraction(0))
    rate = data.draw(rates_for(half_up(total, currency)))
    order = uuid4()
    delivered = OrderDelivered(
        order_id=order,
        root_order_id=order,
        producer="fulfilment",
        supplier="FRAMES",
        requester="WHEELS",
        lines=tuple(
            OrderLine(sku=f"SKU-{i}", quantity=quantity, unit_price=price)
            for i, (price, quantity) in enumerate(lines)
        ),
        currency=currency,
        requester_currency=requester_currency,
        fx_rate=rate,
    )
    invoice = invoice_for_delivery(delivered, invoice_id=uuid4())
    for line, (price, quantity) in zip(invoice.lines, lines, strict=True):
        assert_rounded(line.amount, exact(price, quantity), currency)
    assert_rounded(invoice.total, total, currency)
    assert invoice.requester_total is not None
    assert_rounded(invoice.requester_total, exact(invoice.total, rate), requester_currency)


@given(data=st.data(), currency=CURRENCIES, pct=PERCENTS)
def test_a_service_credit_and_its_credit_note(
    data: st.DataObject, currency: str, pct: Decimal
) -> None:
    total = data.draw(amounts(currency))
    rate = data.draw(rates_for(total))
    credit = sla_credit_amount(total, pct, currency)
    assert_rounded(credit, exact(total, pct) / 100, currency)
    requester_currency = "CHF" if currency != "CHF" else "EUR"
    invoice = IssuedInvoice(
        invoice_id=uuid4(),
        order_id=uuid4(),
        root_order_id=uuid4(),
        supplier=Party("FRAMES", "NC-MFG", "CC-1"),
        requester=Party("WHEELS", "NC-MFG", "CC-2"),
        employee_id=None,
        period="2026-03",
        currency=currency,
        total=total,
        requester_currency=requester_currency,
        fx_rate=rate,
    )
    terms = CreditTerms(
        kind=CreditKind.SLA,
        amount=credit,
        reason="breach",
        cause_event_id=uuid4(),
        period="2026-03",
    )
    note = credit_note_for(invoice, terms, credit_note_id=uuid4())
    assert note.amount == credit
    assert note.requester_amount is not None
    assert_rounded(note.requester_amount, exact(credit, rate), requester_currency)


# --- the ledger in the group currency ----------------------------------------------------


@settings(max_examples=60)
@given(
    data=st.data(),
    rate=st.decimals(min_value=Decimal("0.0000000001"), max_value=Decimal(1000), places=10),
)
def test_each_posting_translates_into_the_group_currency_rounded_once(
    data: st.DataObject, rate: Decimal
) -> None:
    postings = data.draw(
        st.lists(
            st.tuples(
                amounts("USD", max_value=Decimal("99999999.99")),
                st.integers(min_value=1, max_value=50),
            ),
            min_size=1,
            max_size=6,
        )
    )
    lines = [
        DatedAmounts("US-CO", "receivable", "EU-CO", "USD", DAY, debit, Decimal(0), count)
        for debit, count in postings
    ]
    rates = [Rate(base="USD", quote="EUR", rate=rate, valid_from=DAY)]
    view = group_view(lines, currency="EUR", rates=rates)
    # a document's line is translated (and rounded) once; its `count` copies add up exactly
    expected = sum(
        (half_up(exact(debit, rate), "EUR") * count for debit, count in postings), Decimal(0)
    )
    assert view.entities["US-CO"].debit == expected
    assert view.eliminated.credit == expected  # intercompany: eliminated in full
