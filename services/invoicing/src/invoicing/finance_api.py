"""HTTP API of invoicing's finance side: accounting periods (finance keys), department
statements (final once their month is closed) and disputes."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from supplychain_contracts import DisputeStatus
from supplychain_contracts.company import CODE_PATTERN
from supplychain_kit.http.app import Db, get_settings
from supplychain_kit.http.auth import Caller, DepartmentOrFinance, Finance, visible_to
from supplychain_kit.http.params import decimal_body_schema, department_code_path
from supplychain_kit.http.problems import PROBLEM_RESPONSE, Problem
from supplychain_kit.http.strict_body import refuse_unknown_fields

from invoicing import closing, dispute_commands
from invoicing.api import FINANCE_READS_ALL, forbid_other_department
from invoicing.config import InvoicingSettings
from invoicing.dispute_commands import Escalation

router = APIRouter(prefix="/v1")
PROBLEM = PROBLEM_RESPONSE
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
MonthPath = Annotated[str, Path(pattern=PERIOD_PATTERN, description="month, YYYY-MM")]
LegalEntityPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=CODE_PATTERN,
        description="the legal entity's code",
        examples=["NC-MFG"],
    ),
]
Settings = Annotated[InvoicingSettings, Depends(get_settings)]
CSV = "text/csv"
MAX_OFFSET = 1_000_000_000


class Body(BaseModel):
    """Request bodies refuse keys they do not know (a misspelt key is never ignored): 422
    naming the key and the closest known one (refuse_unknown_fields on each route)."""

    model_config = ConfigDict(extra="forbid")


# --- periods -------------------------------------------------------------------------------


class CloseIn(Body):
    reason: str = Field(default="", max_length=2000)


class ReopenIn(Body):
    reason: str = Field(min_length=1, max_length=2000, description="why the month is reopened")


class PeriodChangeOut(BaseModel):
    action: Literal["closed", "reopened"]
    at: datetime
    by: str = Field(description="the finance key's id")
    reason: str
    statements: int = Field(description="statements made final (closed) or dropped (reopened)")


class PeriodOut(BaseModel):
    legal_entity: str
    period: str
    status: Literal["open", "closed"]
    closed_at: datetime | None
    closed_by: str | None
    history: list[PeriodChangeOut]


class PeriodChangedOut(PeriodOut):
    changed: bool = Field(description="false: the month was closed already, nothing changed")


def _month_problem(exc: Exception, legal_entity: str) -> Problem:
    if isinstance(exc, closing.UnknownLegalEntity):
        return Problem(
            404,
            str(exc),
            errors=[{"field": "legal_entity", "message": f"no legal entity {legal_entity}"}],
        )
    return Problem(409, str(exc), title="Conflict")


@router.post(
    "/admin/periods/{legal_entity}/{period}/close",
    tags=["periods"],
    response_model=PeriodChangedOut,
    responses={403: PROBLEM, 404: PROBLEM, 422: PROBLEM},
)
async def close_period(
    legal_entity: LegalEntityPath,
    period: MonthPath,
    db: Db,
    caller: Finance,
    _known: Annotated[None, refuse_unknown_fields(CloseIn)],
    body: CloseIn | None = None,
) -> PeriodChangedOut:
    """Close the month for the legal entity (finance): nothing posts into it any more (late
    documents go to the first open month and name this one) and its departments' statements
    are final. Closing a closed month answers 200 with `changed: false`."""
    try:
        change = await closing.close_month(
            db,
            legal_entity=legal_entity,
            period=period,
            by=caller.key_id,
            reason=body.reason if body else "",
        )
    except closing.UnknownLegalEntity as exc:
        raise _month_problem(exc, legal_entity) from exc
    return PeriodChangedOut(**change.month, changed=change.changed)


@router.post(
    "/admin/periods/{legal_entity}/{period}/reopen",
    tags=["periods"],
    response_model=PeriodChangedOut,
    responses={403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
)
async def reopen_period(
    legal_entity: LegalEntityPath,
    period: MonthPath,
    body: ReopenIn,
    db: Db,
    caller: Finance,
    _known: Annotated[None, refuse_unknown_fields(ReopenIn)],
) -> PeriodChangedOut:
    """Reopen a closed month (finance; `reason` required): audited with who, when and why;
    its statements are computed live again. 409 when the month is not closed."""
    try:
        change = await closing.reopen_month(
            db, legal_entity=legal_entity, period=period, by=caller.key_id, reason=body.reason
        )
    except (closing.UnknownLegalEntity, closing.NotClosed) as exc:
        raise _month_problem(exc, legal_entity) from exc
    return PeriodChangedOut(**change.month, changed=change.changed)


@router.get("/periods", tags=["periods"], response_model=list[PeriodOut], responses={403: PROBLEM})
async def list_periods(
    db: Db,
    caller: Finance,
    legal_entity: Annotated[str | None, Query(max_length=64, pattern=CODE_PATTERN)] = None,
    status: Literal["open", "closed"] | None = None,
) -> list[PeriodOut]:
    """Every month finance closed (and maybe reopened), per legal entity, with its history. A
    month not listed is open."""
    months = await closing.list_months(db, legal_entity=legal_entity, status=status)
    return [PeriodOut.model_validate(m) for m in months]


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
    original_period: str | None


class StatementTotalsOut(BaseModel):
    invoiced: Decimal
    credited: Decimal
    net: Decimal


class SectionOut(BaseModel):
    invoices: list[StatementDocumentOut]
    credit_notes: list[StatementDocumentOut]
    invoiced: Decimal | None = Field(description="the only currency's; null across currencies")
    credited: Decimal | None
    net: Decimal | None
    totals: dict[str, StatementTotalsOut] = Field(description="per currency")


class StatementOut(BaseModel):
    department: str
    period: str
    final: bool = Field(description="the month is closed: these bytes are served unchanged")
    digest: str = Field(description="sha256 of the statement's CSV bytes: `sha256:<hex>`")
    as_supplier: SectionOut
    as_requester: SectionOut
    net: Decimal | None = Field(description="the only currency's net; null across currencies")
    net_by_currency: dict[str, Decimal]


def _served(body: bytes, media_type: str, statement: closing.ServedStatement) -> dict[str, Any]:
    digest = hashlib.sha256(body).digest()
    return {
        "content": body,
        "media_type": media_type,
        "headers": {
            "ETag": f'"{digest.hex()}"',
            "Digest": f"sha-256={base64.b64encode(digest).decode()}",
            "X-Statement-Digest": statement.digest,
            "X-Statement-Final": "true" if statement.final else "false",
        },
    }


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
    period: Annotated[str, Query(pattern=PERIOD_PATTERN, description="month, YYYY-MM")],
    request: Request,
    db: Db,
    caller: DepartmentOrFinance,
) -> Response:
    """What the department charged (as supplier) and was charged (as requester) in the month,
    per currency: invoices and credit notes with totals, and `digest`. A closed month's
    statement is final: the same bytes on every read (`ETag`/`Digest` of the bytes). A
    department reads its own; finance every one. `Accept: text/csv` gives the CSV."""
    forbid_other_department(caller, code, field="code")
    statement = await closing.read_statement(db, department=code, period=period)
    if CSV in request.headers.get("accept", ""):
        served = _served(statement.csv_body, f"{CSV}; charset=utf-8", statement)
        served["headers"]["Content-Disposition"] = (
            f'attachment; filename="statement-{code}-{period}.csv"'
        )
        return Response(**served)
    return Response(**_served(statement.json_body, "application/json", statement))


# --- disputes ------------------------------------------------------------------------------


class DisputeIn(Body):
    amount: Annotated[
        Decimal,
        Field(max_digits=18, decimal_places=2),
        decimal_body_schema("in the invoice's currency", example="20.00"),
    ]
    reason: str = Field(min_length=1, max_length=2000)


class SettleIn(Body):
    reason: str = Field(default="", max_length=2000)


class RejectIn(Body):
    reason: str = Field(min_length=1, max_length=2000)


class EvidenceEventOut(BaseModel):
    type: str
    occurred_at: datetime


class EvidenceOut(BaseModel):
    timeline: list[EvidenceEventOut] = Field(
        description="the order's events invoicing consumed (placed, fulfilment, SLA), in time order"
    )
    trace_id: str | None = Field(description="the order's trace (W3C trace id)")


class DisputeOut(BaseModel):
    dispute_id: UUID
    invoice_id: UUID
    order_id: UUID
    supplier: str
    requester: str
    status: DisputeStatus
    amount: Decimal
    currency: str
    reason: str
    opened_at: datetime
    opened_by: str
    escalate_at: datetime
    escalated_at: datetime | None
    settled_at: datetime | None
    settled_by: str | None
    settle_reason: str | None
    credit_note_id: UUID | None
    evidence: EvidenceOut


def _dispute_problem(exc: Exception) -> Problem:
    if isinstance(exc, dispute_commands.DisputeNotFound):
        return Problem(404, str(exc))
    if isinstance(exc, dispute_commands.NotTheRequester | dispute_commands.NotTheSupplier):
        return Problem(403, str(exc), title="Forbidden")
    if isinstance(exc, dispute_commands.DisputeRefused):
        return Problem(422, str(exc), errors=[{"field": "amount", "message": str(exc)}])
    return Problem(409, str(exc), title="Conflict")


DISPUTE_ERRORS = (
    dispute_commands.DisputeNotFound,
    dispute_commands.NotTheRequester,
    dispute_commands.NotTheSupplier,
    dispute_commands.DisputeRefused,
    dispute_commands.AlreadySettled,
)


@router.post(
    "/invoices/{invoice_id}/disputes",
    tags=["disputes"],
    status_code=201,
    response_model=DisputeOut,
    responses={403: PROBLEM, 404: PROBLEM, 422: PROBLEM},
)
async def open_dispute(
    invoice_id: UUID,
    body: DisputeIn,
    db: Db,
    caller: Caller,
    settings: Settings,
    _known: Annotated[None, refuse_unknown_fields(DisputeIn)],
) -> DisputeOut:
    """The requester disputes part of an invoice: `amount` at most what is outstanding (the
    total less credit notes and other pending disputes). 404 for a department not party, 403
    for the supplier."""
    try:
        dispute = await dispute_commands.open_dispute(
            db,
            invoice_id=invoice_id,
            caller=caller.department,
            amount=body.amount,
            reason=body.reason,
            escalation=Escalation(settings.dispute_escalation_business_days),
        )
    except DISPUTE_ERRORS as exc:
        raise _dispute_problem(exc) from exc
    return DisputeOut.model_validate(dispute)


@router.post(
    "/disputes/{dispute_id}/accept",
    tags=["disputes"],
    response_model=DisputeOut,
    responses={403: PROBLEM, 404: PROBLEM, 409: PROBLEM},
)
async def accept_dispute(
    dispute_id: UUID,
    db: Db,
    caller: Caller,
    _known: Annotated[None, refuse_unknown_fields(SettleIn)],
    body: SettleIn | None = None,
) -> DisputeOut:
    """The supplier accepts: a credit note of kind `dispute` for the amount. 409 when the
    dispute is settled already."""
    try:
        dispute = await dispute_commands.accept_dispute(
            db, dispute_id=dispute_id, caller=caller.department, reason=body.reason if body else ""
        )
    except DISPUTE_ERRORS as exc:
        raise _dispute_problem(exc) from exc
    return DisputeOut.model_validate(dispute)


@router.post(
    "/disputes/{dispute_id}/reject",
    tags=["disputes"],
    response_model=DisputeOut,
    responses={403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
)
async def reject_dispute(
    dispute_id: UUID,
    body: RejectIn,
    db: Db,
    caller: Caller,
    _known: Annotated[None, refuse_unknown_fields(RejectIn)],
) -> DisputeOut:
    """The supplier rejects (`reason` required): nothing is credited."""
    try:
        dispute = await dispute_commands.reject_dispute(
            db, dispute_id=dispute_id, caller=caller.department, reason=body.reason
        )
    except DISPUTE_ERRORS as exc:
        raise _dispute_problem(exc) from exc
    return DisputeOut.model_validate(dispute)


@router.get(
    "/disputes", tags=["disputes"], response_model=list[DisputeOut], responses={403: PROBLEM}
)
async def list_disputes(
    db: Db,
    caller: DepartmentOrFinance,
    status: DisputeStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[DisputeOut]:
    """The caller's disputes as either party, newest first; finance sees every one (filter
    `status=escalated` for those it takes up)."""
    disputes = await dispute_commands.list_disputes(
        db,
        visible=visible_to(caller, every_row=FINANCE_READS_ALL),
        status=status.value if status else None,
        limit=limit,
        offset=offset,
    )
    return [DisputeOut.model_validate(d) for d in disputes]


@router.get(
    "/disputes/{dispute_id}", tags=["disputes"], response_model=DisputeOut, responses={404: PROBLEM}
)
async def get_dispute(dispute_id: UUID, db: Db, caller: DepartmentOrFinance) -> DisputeOut:
    """One dispute with its evidence (the order's timeline and trace id)."""
    try:
        dispute = await dispute_commands.get_dispute(
            db, dispute_id=dispute_id, visible=visible_to(caller, every_row=FINANCE_READS_ALL)
        )
    except DISPUTE_ERRORS as exc:
        raise _dispute_problem(exc) from exc
    return DisputeOut.model_validate(dispute)
