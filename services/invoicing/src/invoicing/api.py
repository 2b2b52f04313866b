"""HTTP API of invoicing: invoices, statements and the trial balance of the internal ledger."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from supplychain_contracts.money import round_money
from supplychain_kit.http.app import Db, get_settings
from supplychain_kit.http.auth import DepartmentOrFinance, Principal, Role, visible_to
from supplychain_kit.http.params import department_code_query
from supplychain_kit.http.problems import PROBLEM_RESPONSE, Problem

from invoicing import ledger, store
from invoicing.config import InvoicingSettings

router = APIRouter(prefix="/v1")
Settings = Annotated[InvoicingSettings, Depends(get_settings)]
PROBLEM = PROBLEM_RESPONSE
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
Period = Annotated[str, Query(pattern=PERIOD_PATTERN, description="month, YYYY-MM")]
# An offset beyond this many invoices is no page anyone reads (and must stay in bigint).
MAX_OFFSET = 1_000_000_000
CSV = "text/csv"
# Finance reads every department's money documents; a department those it is party to.
FINANCE_READS_ALL: tuple[Role, ...] = ("finance",)


def forbid_other_department(caller: Principal, department: str, *, field: str) -> None:
    """A department reads only its own department's documents (403 rather than 404: the
    codes of departments are no secret, their documents are); finance every one's."""
    if not visible_to(caller, every_row=FINANCE_READS_ALL).admits(department):
        detail = f"{caller.department} cannot read the documents of {department}"
        raise Problem(403, detail, title="Forbidden", errors=[{"field": field, "message": detail}])


class InvoiceLineOut(BaseModel):
    sku: str
    quantity: int
    unit_price: Decimal
    amount: Decimal


class CreditNoteOut(BaseModel):
    credit_note_id: UUID
    kind: str
    period: str
    original_period: str | None = None
    amount: Decimal
    requester_amount: Decimal | None = None
    reason: str
    issued_at: datetime
    dispute_id: UUID | None = None
    reverses_credit_note_id: UUID | None = None


class InvoiceOut(BaseModel):
    invoice_id: UUID
    order_id: UUID
    root_order_id: UUID
    supplier: str
    requester: str
    employee_id: str | None
    supplier_cost_centre: str
    requester_cost_centre: str
    payroll_deduction: bool
    period: str
    original_period: str | None = None
    currency: str
    total: Decimal
    requester_currency: str | None = None
    fx_rate: Decimal | None = None
    requester_total: Decimal | None = None
    supplier_legal_entity: str | None = None
    requester_legal_entity: str | None = None
    issued_at: datetime
    lines: list[InvoiceLineOut] = []
    credit_notes: list[CreditNoteOut] = []


@router.get(
    "/invoices",
    tags=["invoices"],
    response_model=list[InvoiceOut],
    responses={403: PROBLEM, 422: PROBLEM},
)
async def list_invoices(
    request: Request,
    response: Response,
    db: Db,
    caller: DepartmentOrFinance,
    department: Annotated[
        str | None,
        department_code_query(
            "the caller's own department (the default); finance: any, or all when omitted"
        ),
    ] = None,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[InvoiceOut]:
    """The caller's invoices (charged or charging), newest first, optionally for one period;
    a finance key reads every department's.

    `X-Total-Count` holds how many match; `Link: <...>; rel="next"` the next page, if any.
    """
    visible = visible_to(caller, every_row=FINANCE_READS_ALL)
    if department is not None:
        forbid_other_department(caller, department, field="department")
    rows, total = await store.list_invoices(
        db, visible=visible, department=department, period=period, limit=limit, offset=offset
    )
    response.headers["X-Total-Count"] = str(total)
    if offset + len(rows) < total:
        following = request.url.include_query_params(offset=offset + limit, limit=limit)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return [InvoiceOut.model_validate(row) for row in rows]


@router.get(
    "/invoices/{invoice_id}", tags=["invoices"], response_model=InvoiceOut, responses={404: PROBLEM}
)
async def get_invoice(invoice_id: UUID, db: Db, caller: DepartmentOrFinance) -> InvoiceOut:
    """One invoice with its lines and the credit notes issued against it (its parties, or
    finance)."""
    invoice = await store.get_invoice(
        db, invoice_id, visible=visible_to(caller, every_row=FINANCE_READS_ALL)
    )
    if invoice is None:
        # another department's invoice is indistinguishable from a missing one
        raise Problem(
            404,
            f"invoice {invoice_id} does not exist",
            errors=[{"field": "invoice_id", "message": "no such invoice"}],
        )
    return InvoiceOut.model_validate(invoice)


# The statement route (GET /v1/statements/{code}) is in finance_api: final once closed.


# --- ledger --------------------------------------------------------------------------------


class AccountOut(BaseModel):
    legal_entity: str
    account: str
    cost_centre: str
    counterparty_entity: str
    currency: str
    debit: Decimal
    credit: Decimal
    balance: Decimal


class TotalsOut(BaseModel):
    debit: Decimal
    credit: Decimal
    balance: Decimal


class EntityTotalsOut(TotalsOut):
    legal_entity: str
    currency: str


class InterEntityOut(BaseModel):
    legal_entity: str
    counterparty_entity: str
    currency: str
    receivable: Decimal
    payable: Decimal
    net: Decimal


class EliminationOut(BaseModel):
    creditor: str
    debtor: str
    currency: str
    amount: Decimal
    matched: bool


class CurrencySectionOut(BaseModel):
    """The ledger of one currency: never added to another's."""

    currency: str
    balanced: bool
    totals: TotalsOut
    entities: list[EntityTotalsOut]
    eliminations: list[EliminationOut]


class GroupEliminationOut(TotalsOut):
    legal_entities: list[str]


class UntranslatedOut(BaseModel):
    currency: str
    pair: str
    day: date
    debit: Decimal
    credit: Decimal


class GroupEntityOut(TotalsOut):
    legal_entity: str
    entity_currency: str | None  # the currency it keeps its books in (None: not known yet)


class GroupViewOut(BaseModel):
    currency: str
    complete: bool
    entities: list[GroupEntityOut]
    eliminations: list[GroupEliminationOut]
    eliminated: TotalsOut
    consolidated: TotalsOut
    untranslated: list[UntranslatedOut]


class TrialBalanceOut(BaseModel):
    period: str | None
    department: str | None = Field(
        default=None,
        description="whose cost centre's lines these are (a department's key); null: the "
        "whole ledger (finance), which alone must balance",
    )
    balanced: bool
    totals: dict[str, TotalsOut]
    entities: list[EntityTotalsOut]
    accounts: list[AccountOut]
    inter_entity: list[InterEntityOut]
    eliminations: list[EliminationOut]
    currencies: list[CurrencySectionOut]
    group: GroupViewOut


def _totals(totals: ledger.Totals, currency: str) -> TotalsOut:
    return TotalsOut(
        debit=round_money(totals.debit, currency),
        credit=round_money(totals.credit, currency),
        balance=round_money(totals.balance, currency),
    )


def _entity_totals(entity: str, currency: str, totals: ledger.Totals) -> EntityTotalsOut:
    return EntityTotalsOut(
        legal_entity=entity, currency=currency, **_totals(totals, currency).model_dump()
    )


def _account(a: ledger.AccountBalance) -> AccountOut:
    return AccountOut(
        legal_entity=a.legal_entity,
        account=a.account,
        cost_centre=a.cost_centre,
        counterparty_entity=a.counterparty_entity,
        currency=a.currency,
        debit=round_money(a.debit, a.currency),
        credit=round_money(a.credit, a.currency),
        balance=round_money(a.balance, a.currency),
    )


def _inter_entity(b: ledger.InterEntityBalance) -> InterEntityOut:
    return InterEntityOut(
        legal_entity=b.legal_entity,
        counterparty_entity=b.counterparty_entity,
        currency=b.currency,
        receivable=round_money(b.receivable, b.currency),
        payable=round_money(b.payable, b.currency),
        net=round_money(b.net, b.currency),
    )


def _elimination(e: ledger.Elimination) -> EliminationOut:
    return EliminationOut(
        creditor=e.creditor,
        debtor=e.debtor,
        currency=e.currency,
        amount=round_money(e.amount, e.currency),
        matched=e.matched,
    )


def _sections(balance: ledger.TrialBalance) -> list[CurrencySectionOut]:
    return [
        CurrencySectionOut(
            currency=currency,
            balanced=totals.balance == 0
            and all(t.balance == 0 for (_, c), t in balance.entities.items() if c == currency),
            totals=_totals(totals, currency),
            entities=[
                _entity_totals(entity, c, t)
                for (entity, c), t in balance.entities.items()
                if c == currency
            ],
            eliminations=[_elimination(e) for e in balance.eliminations if e.currency == currency],
        )
        for currency, totals in balance.totals.items()
    ]


def _group(view: ledger.GroupView, entity_currencies: dict[str, str]) -> GroupViewOut:
    currency = view.currency
    return GroupViewOut(
        currency=currency,
        complete=view.complete,
        entities=[
            GroupEntityOut(
                legal_entity=entity,
                entity_currency=entity_currencies.get(entity),
                **_totals(t, currency).model_dump(),
            )
            for entity, t in view.entities.items()
        ],
        eliminations=[
            GroupEliminationOut(
                legal_entities=list(e.legal_entities),
                **_totals(ledger.Totals(e.debit, e.credit), currency).model_dump(),
            )
            for e in view.eliminations
        ],
        eliminated=_totals(view.eliminated, currency),
        consolidated=_totals(view.consolidated, currency),
        untranslated=[
            UntranslatedOut(
                currency=u.currency,
                pair=u.pair,
                day=u.day,
                debit=round_money(u.debit, u.currency),
                credit=round_money(u.credit, u.currency),
            )
            for u in view.untranslated
        ],
    )


@router.get(
    "/ledger/trial-balance",
    tags=["ledger"],
    response_model=TrialBalanceOut,
    responses={422: PROBLEM},
)
async def get_trial_balance(
    db: Db,
    caller: DepartmentOrFinance,
    settings: Settings,
    period: Annotated[
        str | None, Query(pattern=PERIOD_PATTERN, description="YYYY-MM; omit for all periods")
    ] = None,
) -> TrialBalanceOut:
    """Debit and credit totals per account of the internal ledger, per legal entity and across
    the company (they net to zero), and the inter-entity balances consolidation eliminates.
    Finance reads the whole ledger. A department reads the lines its own cost centre books
    and the totals of those (they need not net to zero: the other side of each line is the
    counterparty's); another department's costs are its business (issue 23).

    Amounts are decimal strings, each rounded to its currency's minor unit; two currencies
    are never added. The shape:

    - `department`: the department whose cost centre's lines these are (its key), or null
      for the whole ledger (a finance key); `balanced` means something for the latter only.
    - `totals` {currency: {debit, credit, balance}}, `entities` [{legal_entity, currency,
      debit, credit, balance}], `accounts` [{legal_entity, account, cost_centre,
      counterparty_entity, currency, debit, credit, balance}], `inter_entity`
      [{legal_entity, counterparty_entity, currency, receivable, payable, net}],
      `eliminations` [{creditor, debtor, currency, amount, matched}]: per currency, as before.
    - `currencies` [{currency, balanced, totals, entities, eliminations}]: the same, one
      section per currency.
    - `group`: the ledger in the group currency (setting GROUP_CURRENCY, the company file's
      `currency`), each posting translated at the rate valid on its day (FxRateDefined;
      inverse derived): {currency, complete, entities [{legal_entity, entity_currency,
      debit, credit, balance}] (before eliminations), eliminations [{legal_entities [a, b], debit, credit,
      balance}] (one line per pair of legal entities trading with each other: it reverses
      their intercompany postings, and its balance is zero when both books agree),
      eliminated {debit, credit, balance} (the eliminations together: balance zero),
      consolidated {debit, credit, balance} (what remains once they are eliminated),
      untranslated [{currency, pair, day, debit, credit}] (amounts of a day with no rate for
      `pair`, e.g. "USD-EUR", kept in their own currency, never guessed; `complete` is false
      when there are any)}.
    """
    visible = visible_to(caller, every_row=FINANCE_READS_ALL)
    balance = ledger.trial_balance(await store.account_balances(db, period=period, visible=visible))
    view = ledger.group_view(
        await store.dated_amounts(db, period=period, visible=visible),
        currency=settings.group_currency,
        rates=await store.fx_rates(db),
    )
    return TrialBalanceOut(
        period=period,
        department=visible.party,
        balanced=balance.balanced,
        totals={currency: _totals(t, currency) for currency, t in balance.totals.items()},
        entities=[
            _entity_totals(entity, currency, t)
            for (entity, currency), t in balance.entities.items()
        ],
        accounts=[_account(a) for a in balance.accounts],
        inter_entity=[_inter_entity(b) for b in balance.inter_entity],
        eliminations=[_elimination(e) for e in balance.eliminations],
        currencies=_sections(balance),
        group=_group(view, await store.entity_currencies(db)),
    )
