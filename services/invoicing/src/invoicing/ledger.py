"""The internal ledger: double-entry postings per document and the trial balance. Pure.

Each legal entity keeps its own books. A charge inside one entity debits the requester's
internal cost and credits the supplier's internal revenue. A charge across entities is booked
in both: the supplier's entity debits an inter-entity receivable from the requester's entity,
the requester's entity credits an inter-entity payable to the supplier's entity; those two are
what consolidation eliminates. An employee purchase is not a cost of the employee's department:
the employer debits a payroll-deduction receivable (recovered from the employee's pay).
A credit note posts the same lines as its invoice, sides swapped, for its own amount (a
reversal, negative, posts them unswapped for its size).

Amounts stay in the document's currency: the trial balance sums per currency and never adds
two. The group view translates each posting into the group currency at the rate valid on
its day, eliminates the intercompany postings (they net to zero in the group currency) and
shows what it could not translate, naming the pair, instead of guessing a rate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from supplychain_contracts.company import FxRate
from supplychain_contracts.fx import rate_on
from supplychain_contracts.money import round_money, translate

from invoicing.domain import DocumentKind, IssuedInvoice, Party

ZERO = Decimal("0.00")


class Account(StrEnum):
    INTERNAL_REVENUE = "internal_revenue"
    INTERNAL_COST = "internal_cost"
    INTER_ENTITY_RECEIVABLE = "inter_entity_receivable"
    INTER_ENTITY_PAYABLE = "inter_entity_payable"
    PAYROLL_DEDUCTION_RECEIVABLE = "payroll_deduction_receivable"


@dataclass(frozen=True)
class Posting:
    """One ledger line in the books of `legal_entity`, for `department`'s cost centre."""

    legal_entity: str
    account: Account
    department: str
    cost_centre: str
    counterparty_entity: str
    counterparty: str  # the other department, or the employee for payroll deductions
    debit: Decimal = ZERO
    credit: Decimal = ZERO

    def reversed(self) -> Posting:
        return replace(self, debit=self.credit, credit=self.debit)


@dataclass(frozen=True)
class PostedDocument:
    """A document's ledger lines and where they post: its period and currency, its date."""

    kind: DocumentKind
    document_id: UUID
    period: str
    currency: str
    posted_at: datetime
    postings: Sequence[Posting]


def _debit(
    party: Party, account: Account, other: Party, amount: Decimal, counterparty: str = ""
) -> Posting:
    return Posting(
        party.legal_entity,
        account,
        party.code,
        party.cost_centre,
        other.legal_entity,
        counterparty or other.code,
        debit=amount,
    )


def _credit(
    party: Party, account: Account, other: Party, amount: Decimal, counterparty: str = ""
) -> Posting:
    return Posting(
        party.legal_entity,
        account,
        party.code,
        party.cost_centre,
        other.legal_entity,
        counterparty or other.code,
        credit=amount,
    )


def postings_for_invoice(invoice: IssuedInvoice, amount: Decimal | None = None) -> list[Posting]:
    """The balanced postings of charging `amount` (default: the invoice total)."""
    amount = invoice.total if amount is None else amount
    if amount == 0:
        return []
    supplier, requester = invoice.supplier, invoice.requester
    if invoice.employee_id is not None:
        charged = _debit(
            requester,
            Account.PAYROLL_DEDUCTION_RECEIVABLE,
            supplier,
            amount,
            counterparty=invoice.employee_id,
        )
    else:
        charged = _debit(requester, Account.INTERNAL_COST, supplier, amount)
    earned = _credit(supplier, Account.INTERNAL_REVENUE, requester, amount)
    if supplier.legal_entity == requester.legal_entity:
        return [charged, earned]
    return [
        charged,
        _credit(requester, Account.INTER_ENTITY_PAYABLE, supplier, amount),
        _debit(supplier, Account.INTER_ENTITY_RECEIVABLE, requester, amount),
        earned,
    ]


def postings_for_credit_note(invoice: IssuedInvoice, amount: Decimal) -> list[Posting]:
    """The invoice's lines, sides swapped, for the credited amount; a reversal (a negative
    amount: a credit taken back) posts the invoice's own sides again for its size."""
    if amount < 0:
        return postings_for_invoice(invoice, -amount)
    return [posting.reversed() for posting in postings_for_invoice(invoice, amount)]


# --- trial balance -------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountBalance:
    """Debit and credit totals of one account line (as summed by the database)."""

    legal_entity: str
    account: str
    cost_centre: str
    counterparty_entity: str
    currency: str
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        """Debit minus credit."""
        return self.debit - self.credit


@dataclass(frozen=True)
class Totals:
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        return self.debit - self.credit


@dataclass(frozen=True)
class InterEntityBalance:
    """What `legal_entity` is owed by (receivable) and owes to (payable) `counterparty_entity`."""

    legal_entity: str
    counterparty_entity: str
    currency: str
    receivable: Decimal
    payable: Decimal

    @property
    def net(self) -> Decimal:
        return self.receivable - self.payable


@dataclass(frozen=True)
class Elimination:
    """An inter-entity balance to eliminate on consolidation: `creditor` is owed `amount` by
    `debtor`; `matched` when both books agree."""

    creditor: str
    debtor: str
    currency: str
    amount: Decimal
    matched: bool


@dataclass(frozen=True)
class TrialBalance:
    accounts: list[AccountBalance]
    totals: dict[str, Totals]  # per currency, across the company
    entities: dict[tuple[str, str], Totals]  # per (legal entity, currency)
    inter_entity: list[InterEntityBalance]
    eliminations: list[Elimination]

    @property
    def balanced(self) -> bool:
        return all(t.balance == 0 for t in self.totals.values()) and all(
            t.balance == 0 for t in self.entities.values()
        )


def _sum(lines: Iterable[AccountBalance]) -> Totals:
    lines = list(lines)
    return Totals(
        debit=sum((line.debit for line in lines), ZERO),
        credit=sum((line.credit for line in lines), ZERO),
    )


def trial_balance(accounts: Iterable[AccountBalance]) -> TrialBalance:
    accounts = sorted(
        accounts, key=lambda a: (a.currency, a.legal_entity, a.account, a.cost_centre)
    )
    by_currency: dict[str, list[AccountBalance]] = defaultdict(list)
    by_entity: dict[tuple[str, str], list[AccountBalance]] = defaultdict(list)
    receivable: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    payable: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    for line in accounts:
        by_currency[line.currency].append(line)
        by_entity[(line.legal_entity, line.currency)].append(line)
        pair = (line.legal_entity, line.counterparty_entity, line.currency)
        if line.account == Account.INTER_ENTITY_RECEIVABLE:
            receivable[pair] += line.balance
        elif line.account == Account.INTER_ENTITY_PAYABLE:
            payable[pair] -= line.balance
    inter_entity = [
        InterEntityBalance(entity, other, currency, receivable[key], payable[key])
        for key in sorted(receivable.keys() | payable.keys())
        for entity, other, currency in [key]
    ]
    return TrialBalance(
        accounts=accounts,
        totals={currency: _sum(lines) for currency, lines in sorted(by_currency.items())},
        entities={key: _sum(lines) for key, lines in sorted(by_entity.items())},
        inter_entity=inter_entity,
        eliminations=eliminations(inter_entity),
    )


def eliminations(balances: Iterable[InterEntityBalance]) -> list[Elimination]:
    """One line per pair of entities: who is owed how much, and whether both books agree."""
    net = {(b.legal_entity, b.counterparty_entity, b.currency): b.net for b in balances}
    pairs = sorted({(*sorted((entity, other)), currency) for entity, other, currency in net})
    result: list[Elimination] = []
    for first, second, currency in pairs:
        owed_to_first = net.get((first, second, currency), ZERO)
        owed_to_second = net.get((second, first, currency), ZERO)
        if owed_to_first == 0 and owed_to_second == 0:
            continue
        matched = owed_to_first == -owed_to_second
        if owed_to_first > 0 or owed_to_second < 0:
            amount = owed_to_first if owed_to_first > 0 else -owed_to_second
            result.append(Elimination(first, second, currency, amount, matched))
        else:
            amount = owed_to_second if owed_to_second > 0 else -owed_to_first
            result.append(Elimination(second, first, currency, amount, matched))
    return result


# --- group view ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DatedAmounts:
    """`count` postings of one account line on one day with the same debit and credit (as the
    database groups them): translated once, so every line of a document translates alike
    and a balanced document stays balanced in the group currency."""

    legal_entity: str
    account: str
    counterparty_entity: str
    currency: str
    day: date
    debit: Decimal
    credit: Decimal
    count: int = 1

    @property
    def intercompany(self) -> bool:
        return self.legal_entity != self.counterparty_entity


@dataclass(frozen=True)
class Untranslated:
    """Amounts of `currency` posted on `day` the group view could not translate: no rate of
    `pair` (e.g. `USD-EUR`) was valid then."""

    currency: str
    pair: str
    day: date
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class GroupElimination:
    """The line that removes the postings between two legal entities from the group's books:
    their credits as debits and their debits as credits, in the group currency. Its balance
    is zero when both books agree."""

    legal_entities: tuple[str, str]
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        return self.debit - self.credit


@dataclass(frozen=True)
class GroupView:
    currency: str
    entities: dict[str, Totals]  # per legal entity, translated, before eliminations
    eliminations: list[GroupElimination]
    eliminated: Totals  # the eliminations together
    consolidated: Totals  # what remains once the intercompany postings are eliminated
    untranslated: list[Untranslated]

    @property
    def complete(self) -> bool:
        return not self.untranslated


def group_view(
    lines: Iterable[DatedAmounts], *, currency: str, rates: Sequence[FxRate]
) -> GroupView:
    """The ledger in the group currency: each posting translated at the rate valid on its day."""
    entities: dict[str, list[tuple[Decimal, Decimal]]] = defaultdict(list)
    between: dict[tuple[str, str], list[tuple[Decimal, Decimal]]] = defaultdict(list)
    remaining: list[tuple[Decimal, Decimal]] = []
    missing: dict[tuple[str, date], list[tuple[Decimal, Decimal]]] = defaultdict(list)
    for line in lines:
        rate = rate_on(rates, line.currency, currency, line.day)
        if rate is None:
            missing[(line.currency, line.day)].append(
                (line.debit * line.count, line.credit * line.count)
            )
            continue
        translated = (
            translate(line.debit, rate, currency) * line.count,
            translate(line.credit, rate, currency) * line.count,
        )
        entities[line.legal_entity].append(translated)
        if line.intercompany:
            pair = sorted((line.legal_entity, line.counterparty_entity))
            between[(pair[0], pair[1])].append(translated)
        else:
            remaining.append(translated)
    eliminations = [
        GroupElimination(pair, debit=total.credit, credit=total.debit)
        for pair, amounts in sorted(between.items())
        for total in [_add(amounts, currency)]
    ]
    return GroupView(
        currency=currency,
        entities={entity: _add(amounts, currency) for entity, amounts in sorted(entities.items())},
        eliminations=eliminations,
        eliminated=Totals(
            debit=round_money(sum((e.debit for e in eliminations), ZERO), currency),
            credit=round_money(sum((e.credit for e in eliminations), ZERO), currency),
        ),
        consolidated=_add(remaining, currency),
        untranslated=[
            Untranslated(code, f"{code}-{currency}", day, total.debit, total.credit)
            for (code, day), amounts in sorted(missing.items())
            for total in [_add(amounts, code)]
        ],
    )


def _add(amounts: Iterable[tuple[Decimal, Decimal]], currency: str) -> Totals:
    pairs = list(amounts)
    return Totals(
        debit=round_money(sum((debit for debit, _ in pairs), ZERO), currency),
        credit=round_money(sum((credit for _, credit in pairs), ZERO), currency),
    )
