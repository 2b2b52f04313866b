"""The internal ledger: postings per invoice and credit note, the trial balance (pure)."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest
from invoicing.domain import IssuedInvoice, Party
from invoicing.ledger import (
    Account,
    AccountBalance,
    Elimination,
    InterEntityBalance,
    Posting,
    eliminations,
    postings_for_credit_note,
    postings_for_invoice,
    trial_balance,
)

FRAMES = Party("FRAMES", "NC-MFG", "CC-1300")
ASSEMBLY = Party("ASSEMBLY", "NC-MFG", "CC-1600")
RETAIL_OPS = Party("RETAIL_OPS", "NC-RETAIL", "CC-2200")
EMPLOYEE_SHOP = Party("EMPLOYEE_SHOP", "NC-RETAIL", "CC-2300")


def invoice(
    supplier: Party, requester: Party, total: str, employee_id: str | None = None
) -> IssuedInvoice:
    return IssuedInvoice(
        invoice_id=uuid4(),
        order_id=uuid4(),
        root_order_id=uuid4(),
        supplier=supplier,
        requester=requester,
        employee_id=employee_id,
        period="2025-03",
        currency="EUR",
        total=Decimal(total),
    )


def as_balances(postings: list[Posting]) -> list[AccountBalance]:
    return [
        AccountBalance(
            p.legal_entity,
            p.account.value,
            p.cost_centre,
            p.counterparty_entity,
            "EUR",
            p.debit,
            p.credit,
        )
        for p in postings
    ]


def sides(postings: list[Posting]) -> set[tuple[str, Account, str, Decimal, Decimal]]:
    return {(p.legal_entity, p.account, p.cost_centre, p.debit, p.credit) for p in postings}


def test_a_charge_inside_one_entity_moves_cost_to_the_requester_and_revenue_to_the_supplier() -> (
    None
):
    postings = postings_for_invoice(invoice(FRAMES, ASSEMBLY, "209.00"))
    zero, amount = Decimal("0.00"), Decimal("209.00")
    assert sides(postings) == {
        ("NC-MFG", Account.INTERNAL_COST, "CC-1600", amount, zero),
        ("NC-MFG", Account.INTERNAL_REVENUE, "CC-1300", zero, amount),
    }


def test_a_charge_across_entities_is_booked_in_both_with_inter_entity_accounts() -> None:
    postings = postings_for_invoice(invoice(ASSEMBLY, RETAIL_OPS, "1000.00"))
    zero, amount = Decimal("0.00"), Decimal("1000.00")
    assert sides(postings) == {
        ("NC-RETAIL", Account.INTERNAL_COST, "CC-2200", amount, zero),
        ("NC-RETAIL", Account.INTER_ENTITY_PAYABLE, "CC-2200", zero, amount),
        ("NC-MFG", Account.INTER_ENTITY_RECEIVABLE, "CC-1600", amount, zero),
        ("NC-MFG", Account.INTERNAL_REVENUE, "CC-1600", zero, amount),
    }
    payable = next(p for p in postings if p.account is Account.INTER_ENTITY_PAYABLE)
    assert payable.counterparty_entity == "NC-MFG"
    # each entity's books balance on their own
    for entity in ("NC-MFG", "NC-RETAIL"):
        mine = [p for p in postings if p.legal_entity == entity]
        assert sum(p.debit for p in mine) == sum(p.credit for p in mine)


def test_an_employee_purchase_posts_to_a_payroll_deduction_receivable() -> None:
    postings = postings_for_invoice(invoice(EMPLOYEE_SHOP, RETAIL_OPS, "700.00", "E-1001"))
    receivable = next(p for p in postings if p.account is Account.PAYROLL_DEDUCTION_RECEIVABLE)
    assert receivable.debit == Decimal("700.00")
    assert receivable.counterparty == "E-1001"
    assert not any(p.account is Account.INTERNAL_COST for p in postings)
    # across entities, the employer owes the shop's entity until the payroll deduction
    across = postings_for_invoice(invoice(EMPLOYEE_SHOP, FRAMES, "700.00", "E-2001"))
    assert {p.account for p in across} == {
        Account.PAYROLL_DEDUCTION_RECEIVABLE,
        Account.INTER_ENTITY_PAYABLE,
        Account.INTER_ENTITY_RECEIVABLE,
        Account.INTERNAL_REVENUE,
    }


def test_a_credit_note_reverses_its_invoice_for_its_own_amount() -> None:
    charged = invoice(ASSEMBLY, RETAIL_OPS, "1000.00")
    credit = postings_for_credit_note(charged, Decimal("50.00"))
    assert len(credit) == 4
    for posting, original in zip(credit, postings_for_invoice(charged), strict=True):
        assert (posting.legal_entity, posting.account) == (original.legal_entity, original.account)
        assert (posting.debit > 0) == (original.credit > 0)
        assert max(posting.debit, posting.credit) == Decimal("50.00")
    assert postings_for_credit_note(charged, Decimal("0.00")) == []


def test_the_trial_balance_nets_to_zero_and_shows_what_consolidation_eliminates() -> None:
    cross = invoice(ASSEMBLY, RETAIL_OPS, "1000.00")
    postings = [
        *postings_for_invoice(invoice(FRAMES, ASSEMBLY, "209.00")),
        *postings_for_invoice(cross),
        *postings_for_credit_note(cross, Decimal("50.00")),
        *postings_for_invoice(invoice(EMPLOYEE_SHOP, RETAIL_OPS, "700.00", "E-1001")),
    ]
    balance = trial_balance(as_balances(postings))
    assert balance.balanced
    assert (
        balance.totals["EUR"].debit == balance.totals["EUR"].credit == Decimal("3009.00")
    )  # 209 + 2 x 1000 + 2 x 50 + 700
    assert {key: t.balance for key, t in balance.entities.items()} == {
        ("NC-MFG", "EUR"): Decimal("0.00"),
        ("NC-RETAIL", "EUR"): Decimal("0.00"),
    }
    assert balance.inter_entity == [
        InterEntityBalance("NC-MFG", "NC-RETAIL", "EUR", Decimal("950.00"), Decimal("0.00")),
        InterEntityBalance("NC-RETAIL", "NC-MFG", "EUR", Decimal("0.00"), Decimal("950.00")),
    ]
    assert balance.eliminations == [
        Elimination("NC-MFG", "NC-RETAIL", "EUR", Decimal("950.00"), matched=True)
    ]


def test_an_unbalanced_ledger_is_reported_as_such() -> None:
    lines = as_balances(postings_for_invoice(invoice(FRAMES, ASSEMBLY, "10.00")))[:1]
    assert not trial_balance(lines).balanced


@pytest.mark.parametrize(
    ("mfg_net", "retail_net", "expected"),
    [
        ("100.00", "-100.00", [Elimination("NC-MFG", "NC-RETAIL", "EUR", Decimal("100.00"), True)]),
        ("0.00", "40.00", [Elimination("NC-RETAIL", "NC-MFG", "EUR", Decimal("40.00"), False)]),
        ("0.00", "-30.00", [Elimination("NC-MFG", "NC-RETAIL", "EUR", Decimal("30.00"), False)]),
        ("0.00", "0.00", []),
    ],
)
def test_eliminations_name_the_creditor_and_whether_both_books_agree(
    mfg_net: str, retail_net: str, expected: list[Elimination]
) -> None:
    def owed(entity: str, other: str, net: str) -> InterEntityBalance:
        amount = Decimal(net)
        return InterEntityBalance(
            entity, other, "EUR", max(amount, Decimal(0)), max(-amount, Decimal(0))
        )

    balances = [owed("NC-MFG", "NC-RETAIL", mfg_net), owed("NC-RETAIL", "NC-MFG", retail_net)]
    assert eliminations(balances) == expected
