"""The ledger's group view (invoicing.ledger, pure): each posting translated into the group
currency at the rate valid on its day, intercompany postings eliminated (netting to zero in
the group currency), a missing rate shown untranslated with its pair, never guessed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st
from invoicing.domain import IssuedInvoice, Party
from invoicing.ledger import DatedAmounts, Posting, group_view, postings_for_invoice
from supplychain_contracts.company import FxRate

DE_SALES = Party("DE_SALES", "NC-DE", "CC-100")
DE_MFG = Party("DE_MFG", "NC-DE", "CC-200")
US_MFG = Party("US_MFG", "NC-US", "CC-900")
DAY = date(2026, 3, 10)
RATES = (
    FxRate(base="USD", quote="EUR", rate=Decimal("0.9000"), valid_from=date(2026, 1, 1)),
    FxRate(base="USD", quote="EUR", rate=Decimal("0.9500"), valid_from=date(2026, 3, 1)),
)


def invoice(supplier: Party, requester: Party, total: str, currency: str) -> IssuedInvoice:
    return IssuedInvoice(
        invoice_id=uuid4(),
        order_id=uuid4(),
        root_order_id=uuid4(),
        supplier=supplier,
        requester=requester,
        employee_id=None,
        period="2026-03",
        currency=currency,
        total=Decimal(total),
    )


def dated(postings: list[Posting], currency: str, day: date = DAY) -> list[DatedAmounts]:
    return [
        DatedAmounts(
            p.legal_entity, p.account.value, p.counterparty_entity, currency, day, p.debit, p.credit
        )
        for p in postings
    ]


def test_postings_translate_at_the_rate_valid_on_their_day_and_eliminations_net_to_zero() -> None:
    intercompany = postings_for_invoice(invoice(US_MFG, DE_SALES, "100.00", "USD"))
    inside = postings_for_invoice(invoice(DE_MFG, DE_SALES, "40.00", "EUR"))
    earlier = postings_for_invoice(invoice(US_MFG, DE_SALES, "10.00", "USD"))
    view = group_view(
        [
            *dated(intercompany, "USD"),
            *dated(inside, "EUR"),
            *dated(earlier, "USD", date(2026, 2, 1)),
        ],
        currency="EUR",
        rates=RATES,
    )
    assert view.complete and view.currency == "EUR"
    # 100 USD on 10 March at 0.95 = 95.00 EUR; 10 USD on 1 February at 0.90 = 9.00 EUR
    assert view.entities["NC-US"].debit == Decimal("104.00")  # receivable
    assert view.entities["NC-US"].credit == Decimal("104.00")  # revenue
    assert view.entities["NC-DE"].debit == Decimal("144.00")  # 95 + 9 cost, 40 inside
    [elimination] = view.eliminations
    assert elimination.legal_entities == ("NC-DE", "NC-US")
    assert elimination.debit == elimination.credit == Decimal("208.00")
    assert elimination.balance == 0
    assert view.eliminated.balance == 0
    # what remains is the charge inside NC-DE, in balance
    assert (view.consolidated.debit, view.consolidated.credit) == (
        Decimal("40.00"),
        Decimal("40.00"),
    )


def test_a_missing_rate_shows_the_amount_untranslated_naming_the_pair() -> None:
    charged = postings_for_invoice(invoice(US_MFG, DE_SALES, "50.00", "GBP"))
    view = group_view(dated(charged, "GBP"), currency="EUR", rates=RATES)
    assert not view.complete
    [missing] = view.untranslated
    assert (missing.currency, missing.pair, missing.day) == ("GBP", "GBP-EUR", DAY)
    assert missing.debit == missing.credit == Decimal("100.00")  # two lines of 50.00 each side
    assert view.entities == {} and view.eliminations == []
    # a rate valid only later is no rate for the day
    later = FxRate(base="GBP", quote="EUR", rate=Decimal("1.17"), valid_from=date(2026, 4, 1))
    assert not group_view(dated(charged, "GBP"), currency="EUR", rates=[later]).complete


@given(
    totals=st.lists(
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2),
        min_size=1,
        max_size=8,
    ),
    rate=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("200"), places=4),
)
def test_intercompany_eliminations_net_to_zero_in_the_group_currency_whatever_the_rate(
    totals: list[Decimal], rate: Decimal
) -> None:
    rates = [FxRate(base="USD", quote="EUR", rate=rate, valid_from=date(2026, 1, 1))]
    lines = [
        line
        for n, total in enumerate(totals)
        for supplier, requester in [(US_MFG, DE_SALES) if n % 2 else (DE_SALES, US_MFG)]
        for line in dated(
            postings_for_invoice(invoice(supplier, requester, str(total), "USD")), "USD"
        )
    ]
    view = group_view(lines, currency="EUR", rates=rates)
    assert view.eliminated.balance == 0
    assert all(e.balance == 0 for e in view.eliminations)
    assert all(t.balance == 0 for t in view.entities.values())
    assert view.eliminated.debit.as_tuple().exponent == -2
