"""HTTP API of monitoring: handoff timelines."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel
from supplychain_kit.auth import Caller
from supplychain_kit.http import Db
from supplychain_kit.problems import PROBLEM_RESPONSE, Problem

from monitoring import store

router = APIRouter(prefix="/v1", tags=["handoffs"])
PROBLEM = PROBLEM_RESPONSE


class Handoff(BaseModel):
    order_id: UUID
    parent_order_id: UUID | None
    depth: int
    stage: str
    supplier: str
    requester: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    status: str
    trace_id: str | None


@router.get("/orders/{order_id}/handoffs", response_model=list[Handoff], responses={404: PROBLEM})
async def order_handoffs(order_id: UUID, db: Db, caller: Caller) -> list[Handoff]:
    """Every stage of the order and its sub-orders, with durations and trace ids.

    Any department may read handoffs: service levels are visible across the company.
    """
    if not await store.order_exists(db, order_id):
        raise Problem(404, f"no handoffs recorded for order {order_id}")
    rows = await store.handoffs(db, order_id)
    return [
        Handoff.model_validate(
            {**row, "status": "done" if row["duration_s"] is not None else "open"}
        )
        for row in rows
    ]
