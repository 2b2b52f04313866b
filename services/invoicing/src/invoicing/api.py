"""HTTP API of invoicing: invoices, statements and the trial balance of the internal ledger."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from supplychain_kit.auth import Caller, Principal
from supplychain_kit.http import Db
from supplychain_kit.params import department_code_path, department_code_query
from supplychain_kit.problems import PROBLEM_RESPONSE, Problem

from invoicing import ledger, statements, store

router = APIRouter(prefix="/v1", tags=["invoices"])
PROBLEM = PROBLEM_RESPONSE
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
Period = Annotated[str, Query(pattern=PERIOD_PATTERN, description="month, YYYY-MM")]
# An offset beyond this many invoices is no page anyone reads (and must stay in bigint).
MAX_OFFSET = 1_000_000_000
CSV = "text/csv"


def forbid_other_department(caller: Principal, department: str, *, field: str) -> None:
    """A department key reads only its own department's documents."""
    if caller.department != department:
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
    amount: Decimal
    reason: str
    issued_at: datetime


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
    currency: str
    total: Decimal
    issued_at: datetime
    lines: list[InvoiceLineOut] = []
    credit_notes: list[CreditNoteOut] = []


@router.get(
    "/invoices",
    response_model=list[InvoiceOut],
    responses={403: PROBLEM, 422: PROBLEM},
)
async def list_invoices(
    request: Request,
    response: Response,
    db: Db,
    caller: Caller,
    department: Annotated[
        str | None,
        department_code_query("the caller's own department (the default)"),
    ] = None,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[InvoiceOut]:
    """The caller's invoices (charged or charging), newest first, optionally for one period.

    `X-Total-Count` holds how many match; `Link: <...>; rel="next"` the next page, if any.
    """
    department = department or caller.department
    forbid_other_department(caller, department, field="department")
    rows, total = await store.list_invoices(
        db, department=department, period=period, limit=limit, offset=offset
    )
    response.headers["X-Total-Count"] = str(total)
    if offset + len(rows) < total:
        following = request.url.include_query_params(offset=offset + limit, limit=limit)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return [InvoiceOut.model_validate(row) for row in rows]


@router.get("/invoices/{invoice_id}", response_model=InvoiceOut, responses={404: PROBLEM})
async def get_invoice(invoice_id: UUID, db: Db, caller: Caller) -> InvoiceOut:
    """One invoice with its lines and the credit notes issued against it."""
    invoice = await store.get_invoice(db, invoice_id)
    if invoice is None or caller.department not in (invoice["supplier"], invoice["requester"]):
        # another department's invoice is indistinguishable from a missing one
        raise Problem(
            404,
            f"invoice {invoice_id} does not exist",
            errors=[{"field": "invoice_id", "message": "no such invoice"}],
        )
    return InvoiceOut.model_validate(invoice)


# --- statements ----------------------------------------------------------------------------


class StatementDocumentOut(BaseModel):
    document_id: UUID
    invoice_id: UUID
    order_id: UUID
    supplier: str
    requester: str
    employee_id: str | None
    issued_at: datetime
    currency: str
    amount: Decimal
    reason: str


class SectionOut(BaseModel):
    invoices: list[StatementDocumentOut]
    credit_notes: list[StatementDocumentOut]
    invoiced: Decimal
    credited: Decimal
    net: Decimal


class StatementOut(BaseModel):
    department: str
    period: str
    as_supplier: SectionOut
    as_requester: SectionOut
    net: Decimal


def _section(section: statements.Section) -> SectionOut:
    return SectionOut(
        invoices=[
            StatementDocumentOut.model_validate(d, from_attributes=True) for d in section.invoices
        ],
        credit_notes=[
            StatementDocumentOut.model_validate(d, from_attributes=True)
            for d in section.credit_notes
        ],
        invoiced=section.invoiced,
        credited=section.credited,
        net=section.net,
    )


@router.get(
    "/statements/{code}",
    tags=["statements"],
    response_model=StatementOut,
    responses={
        200: {"content": {CSV: {}}, "description": "JSON, or CSV with `Accept: text/csv`"},
        403: PROBLEM,
        422: PROBLEM,
    },
)
async def get_statement(
    code: Annotated[str, department_code_path("the department whose statement it is")],
    period: Period,
    request: Request,
    db: Db,
    caller: Caller,
) -> StatementOut | Response:
    """What the department charged (as supplier) and was charged (as requester) in the period:
    invoices and credit notes with totals. `Accept: text/csv` gives the same as CSV."""
    forbid_other_department(caller, code, field="code")
    documents = await store.statement_documents(db, department=code, period=period)
    statement = statements.statement(code, period, documents)
    if CSV in request.headers.get("accept", ""):
        return Response(
            statements.statement_csv(statement),
            media_type=f"{CSV}; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="statement-{code}-{period}.csv"'
            },
        )
    return StatementOut(
        department=code,
        period=period,
        as_supplier=_section(statement.as_supplier),
        as_requester=_section(statement.as_requester),
        net=statement.net,
    )


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


class TrialBalanceOut(BaseModel):
    period: str | None
    balanced: bool
    totals: dict[str, TotalsOut]
    entities: list[EntityTotalsOut]
    accounts: list[AccountOut]
    inter_entity: list[InterEntityOut]
    eliminations: list[EliminationOut]


def _totals(totals: ledger.Totals) -> TotalsOut:
    return TotalsOut(debit=totals.debit, credit=totals.credit, balance=totals.balance)


@router.get(
    "/ledger/trial-balance",
    tags=["ledger"],
    response_model=TrialBalanceOut,
    responses={422: PROBLEM},
)
async def get_trial_balance(
    db: Db,
    caller: Caller,
    period: Annotated[
        str | None, Query(pattern=PERIOD_PATTERN, description="YYYY-MM; omit for all periods")
    ] = None,
) -> TrialBalanceOut:
    """Debit and credit totals per account of the internal ledger, per legal entity and across
    the company (they net to zero), and the inter-entity balances consolidation eliminates.
    Any department may read it: it is the company's shared view of internal charges."""
    balance = ledger.trial_balance(await store.account_balances(db, period=period))
    return TrialBalanceOut(
        period=period,
        balanced=balance.balanced,
        totals={currency: _totals(t) for currency, t in balance.totals.items()},
        entities=[
            EntityTotalsOut(
                legal_entity=entity,
                currency=currency,
                debit=t.debit,
                credit=t.credit,
                balance=t.balance,
            )
            for (entity, currency), t in balance.entities.items()
        ],
        accounts=[AccountOut.model_validate(a, from_attributes=True) for a in balance.accounts],
        inter_entity=[
            InterEntityOut.model_validate(b, from_attributes=True) for b in balance.inter_entity
        ],
        eliminations=[
            EliminationOut.model_validate(e, from_attributes=True) for e in balance.eliminations
        ],
    )
