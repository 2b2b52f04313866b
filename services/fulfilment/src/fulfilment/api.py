"""HTTP API of fulfilment: a supplier's work queue and the commands on an order."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from supplychain_kit.auth import Caller, require_department
from supplychain_kit.http import Db, Runtime
from supplychain_kit.problems import PROBLEM_RESPONSE, Problem

from fulfilment import commands, store
from fulfilment.domain import Command, IllegalTransition, NotYourOrder, WorkStatus

router = APIRouter(prefix="/v1", tags=["fulfilment"])
PROBLEM = PROBLEM_RESPONSE
COMMAND_ERRORS: dict[int | str, dict[str, Any]] = {
    401: PROBLEM,
    403: {"description": "another department owes this step", **PROBLEM},
    404: PROBLEM,
    409: {"description": "illegal in the current state (`current_state`)", **PROBLEM},
}


class CommandBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=500)


class CommandResult(BaseModel):
    order_id: UUID
    status: WorkStatus
    event_id: UUID
    event_type: str


async def _run(
    db: Db, runtime: Runtime, caller: Caller, order_id: UUID, command: Command, reason: str | None
) -> CommandResult:
    try:
        async with db.transaction():
            status, event = await commands.execute(
                db,
                order_id=order_id,
                command=command,
                schema=runtime.schema,
                reason=reason,
                department=caller.department,
            )
    except commands.UnknownOrder as exc:
        raise Problem(404, f"no work item for order {order_id}") from exc
    except NotYourOrder as exc:
        raise Problem(403, str(exc), title="Forbidden") from exc
    except IllegalTransition as exc:
        raise Problem(
            409, str(exc), title="Illegal transition", current_state=exc.current.value
        ) from exc
    return CommandResult(
        order_id=order_id, status=status, event_id=event.event_id, event_type=event.event_type
    )


@router.get("/departments/{code}/queue", responses={401: PROBLEM, 403: PROBLEM})
async def department_queue(code: str, db: Db, caller: Caller) -> list[dict[str, Any]]:
    """Open work of a supplier department, rush orders and earliest due first."""
    require_department(caller, code, action="read the work queue")
    return await store.queue(db, code)


@router.post(
    "/fulfilments/{order_id}/{action}", response_model=CommandResult, responses=COMMAND_ERRORS
)
async def supplier_command(
    order_id: UUID,
    action: Literal["accept", "reject", "start", "ship"],
    db: Db,
    runtime: Runtime,
    caller: Caller,
    body: CommandBody | None = None,
) -> CommandResult:
    """The supplier accepts, rejects (with reason), starts or ships an order."""
    return await _run(db, runtime, caller, order_id, Command(action), body.reason if body else None)


@router.post("/orders/{order_id}/receipt", response_model=CommandResult, responses=COMMAND_ERRORS)
async def confirm_receipt(
    order_id: UUID, db: Db, runtime: Runtime, caller: Caller
) -> CommandResult:
    """The requester confirms delivery."""
    return await _run(db, runtime, caller, order_id, Command.RECEIPT, None)
