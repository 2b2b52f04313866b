"""HTTP API of invoicing."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel
from supplychain_kit.auth import Caller, require_department
from supplychain_kit.http import Db
from supplychain_kit.problems import PROBLEM_RESPONSE, Problem

from invoicing import store

router = APIRouter(prefix="/v1", tags=["invoices"])
PROBLEM = PROBLEM_RESPONSE


class InvoiceLineOut(BaseModel):
    sku: str
    quantity: int
    unit_price: Decimal
    amount: Decimal


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


@router.get("/invoices", response_model=list[InvoiceOut])
async def list_invoices(
    db: Db,
    caller: Caller,
    department: str | None = None,
    period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[InvoiceOut]:
    """The caller's invoices (charged or charging), newest first, optionally for one period."""
    require_department(caller, department or caller.department, action="read invoices")
    department = caller.department
    rows = await store.list_invoices(
        db, department=department, period=period, limit=limit, offset=offset
    )
    return [InvoiceOut.model_validate(row) for row in rows]


@router.get("/invoices/{invoice_id}", response_model=InvoiceOut, responses={404: PROBLEM})
async def get_invoice(invoice_id: UUID, db: Db, caller: Caller) -> InvoiceOut:
    """One invoice with its lines."""
    invoice = await store.get_invoice(db, invoice_id)
    if invoice is None or caller.department not in (invoice["supplier"], invoice["requester"]):
        raise Problem(404, f"invoice {invoice_id} does not exist")
    return InvoiceOut.model_validate(invoice)
