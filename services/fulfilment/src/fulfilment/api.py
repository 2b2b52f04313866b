"""HTTP API of fulfilment: a supplier's work queue and the commands on an order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from supplychain_kit.http.app import Db
from supplychain_kit.http.auth import Caller, require_department, visible_to
from supplychain_kit.http.params import department_code_path
from supplychain_kit.http.problems import PROBLEM_RESPONSE, Problem

from fulfilment import commands, store
from fulfilment.chain import ReferenceNotKnownYet, UnknownCatalogueItem
from fulfilment.domain import (
    Command,
    FeedbackAlreadyGiven,
    HelpStatus,
    IllegalHelpTransition,
    IllegalTransition,
    NotYourOrder,
    WaitingForSubOrders,
    WorkStatus,
)

router = APIRouter(prefix="/v1")
DepartmentCode = Annotated[
    str,
    department_code_path("the supplying department"),
]
PROBLEM = PROBLEM_RESPONSE
COMMAND_ERRORS: dict[int | str, dict[str, Any]] = {
    401: PROBLEM,
    403: {"description": "another department owes this step", **PROBLEM},
    404: PROBLEM,
    409: {
        "description": (
            "illegal in the current state (`current_state`); ship before every sub-order is "
            "delivered (`waiting_for`); accept an order whose catalogue items (`skus`) have "
            "not reached fulfilment yet, or whose sub-orders' departments have not (retry after "
            "`Retry-After` seconds)"
        ),
        **PROBLEM,
    },
    422: PROBLEM,
}

HELP_ERRORS: dict[int | str, dict[str, Any]] = {
    401: PROBLEM,
    403: {"description": "the other party owes this step", **PROBLEM},
    404: {"description": "no such order, or no such help request on it", **PROBLEM},
    409: {
        "description": (
            "the help request's state (`current_state`) does not allow "
            "the step, or (asking the requester) the order is no longer open (`current_state`)"
        ),
        **PROBLEM,
    },
    422: PROBLEM,
}
HelpEventId = Annotated[
    UUID, Path(description="the id of the HelpRequested event that opened the help request")
]

CATALOGUE_RETRY_AFTER_S = 1


class CommandBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=500)


class RaisedSubOrder(BaseModel):
    order_id: UUID
    sku: str
    quantity: int
    supplier: str


class CommandResult(BaseModel):
    order_id: UUID
    status: WorkStatus
    event_id: UUID
    event_type: str
    sub_orders: list[RaisedSubOrder] = Field(
        default_factory=list, description="sub-orders raised for components on acceptance"
    )


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rating: int = Field(ge=1, le=5, description="1 (poor) to 5 (excellent)")
    comment: str = Field(default="", max_length=2000)


class HelpBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=200)
    message: str = Field(default="", max_length=4000)


class QuestionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=4000, description="what the supplier asks")


class AnswerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: str = Field(min_length=1, max_length=4000, description="the requester's answer")


class HelpHistoryEntry(BaseModel):
    event_id: UUID
    event_type: Literal["HelpRequested", "HelpAwaitingRequester", "HelpAnswered"]
    department: str = Field(description="who asked, questioned or answered")
    text: str = Field(description="the request's message, the question or the answer")
    status: HelpStatus = Field(description="the request's state after this step")
    at: datetime


class HelpRequestView(BaseModel):
    help_event_id: UUID = Field(description="the HelpRequested that opened it")
    subject: str
    message: str
    status: HelpStatus
    requested_at: datetime
    status_changed_at: datetime
    history: list[HelpHistoryEntry]


class EventResult(BaseModel):
    order_id: UUID
    event_id: UUID
    event_type: str


@asynccontextmanager
async def _command_errors(db: asyncpg.Connection, order_id: UUID) -> AsyncIterator[None]:
    """One transaction; the domain's refusals as problem documents."""
    try:
        async with db.transaction():
            yield
    except commands.UnknownOrder as exc:
        raise Problem(404, f"no work item for order {order_id}", order_id=str(order_id)) from exc
    except NotYourOrder as exc:
        raise Problem(403, str(exc), title="Forbidden") from exc
    except WaitingForSubOrders as exc:
        raise Problem(
            409,
            str(exc),
            title="Waiting for sub-orders",
            current_state=exc.current.value,
            waiting_for=[
                {
                    "order_id": str(s.order_id),
                    "sku": s.sku,
                    "supplier": s.supplier,
                    "status": s.status.value,
                }
                for s in exc.waiting
            ],
        ) from exc
    except IllegalTransition as exc:
        raise Problem(
            409, str(exc), title="Illegal transition", current_state=exc.current.value
        ) from exc
    except UnknownCatalogueItem as exc:
        # Not the caller's mistake and not final: the owner's CatalogueItemDefined is on its
        # way (it travels on another topic than the order). 409, not 5xx: nothing is broken.
        raise Problem(
            409,
            str(exc),
            title="Catalogue item not known yet",
            headers={"Retry-After": str(CATALOGUE_RETRY_AFTER_S)},
            skus=list(exc.skus),
        ) from exc
    except ReferenceNotKnownYet as exc:  # a department's currency, say: on its way too
        raise Problem(
            409,
            str(exc),
            title="Reference data not known yet",
            headers={"Retry-After": str(CATALOGUE_RETRY_AFTER_S)},
        ) from exc
    except commands.UnknownHelpRequest as exc:
        raise Problem(
            404, str(exc), order_id=str(order_id), help_event_id=str(exc.help_event_id)
        ) from exc
    except IllegalHelpTransition as exc:
        raise Problem(
            409, str(exc), title="Illegal help transition", current_state=exc.current.value
        ) from exc
    except FeedbackAlreadyGiven as exc:
        raise Problem(409, str(exc), title="Feedback already given", field="order_id") from exc


async def _run(
    db: asyncpg.Connection, caller: Caller, order_id: UUID, command: Command, reason: str | None
) -> CommandResult:
    async with _command_errors(db, order_id):
        outcome = await commands.execute(
            db,
            order_id=order_id,
            command=command,
            reason=reason,
            department=caller.department,
        )
    return CommandResult(
        order_id=order_id,
        status=outcome.status,
        event_id=outcome.event.event_id,
        event_type=outcome.event.event_type,
        sub_orders=[
            RaisedSubOrder(order_id=s.order_id, sku=s.sku, quantity=s.quantity, supplier=s.supplier)
            for s in outcome.sub_orders
        ],
    )


@router.get("/departments/{code}/queue", tags=["queue"], responses={401: PROBLEM, 403: PROBLEM})
async def department_queue(code: DepartmentCode, db: Db, caller: Caller) -> list[dict[str, Any]]:
    """Open work of a supplier department, rush orders and earliest due first."""
    require_department(caller, code, action="read the work queue")
    return await store.queue(db, code, visible=visible_to(caller))


@router.get("/fulfilments/{order_id}", tags=["fulfilments"], responses={401: PROBLEM, 404: PROBLEM})
async def work_item(order_id: UUID, db: Db, caller: Caller) -> dict[str, Any]:
    """One order as its supplier works it (with its sub-orders); supplier or requester only."""
    view = await store.work_item_view(db, order_id, visible=visible_to(caller))
    if view is None:
        raise Problem(404, f"no work item for order {order_id}", order_id=str(order_id))
    return view


@router.post(
    "/fulfilments/{order_id}/{action}",
    tags=["fulfilments"],
    response_model=CommandResult,
    responses=COMMAND_ERRORS,
)
async def supplier_command(
    order_id: UUID,
    action: Literal["accept", "reject", "start", "ship"],
    db: Db,
    caller: Caller,
    body: CommandBody | None = None,
) -> CommandResult:
    """The supplier accepts, rejects (with reason), starts or ships an order."""
    return await _run(db, caller, order_id, Command(action), body.reason if body else None)


@router.post(
    "/orders/{order_id}/receipt",
    tags=["receipts"],
    response_model=CommandResult,
    responses=COMMAND_ERRORS,
)
async def confirm_receipt(order_id: UUID, db: Db, caller: Caller) -> CommandResult:
    """The requester confirms delivery."""
    return await _run(db, caller, order_id, Command.RECEIPT, None)


@router.post(
    "/orders/{order_id}/feedback",
    tags=["receipts"],
    status_code=201,
    response_model=EventResult,
    responses=COMMAND_ERRORS,
)
async def give_feedback(order_id: UUID, body: FeedbackBody, db: Db, caller: Caller) -> EventResult:
    """The requester rates a delivered order 1 to 5, once."""
    async with _command_errors(db, order_id):
        event = await commands.give_feedback(
            db,
            order_id=order_id,
            department=caller.department,
            rating=body.rating,
            comment=body.comment,
        )
    return EventResult(order_id=order_id, event_id=event.event_id, event_type=event.event_type)


@router.post(
    "/orders/{order_id}/help",
    tags=["help"],
    status_code=201,
    response_model=EventResult,
    responses=COMMAND_ERRORS,
)
async def request_help(order_id: UUID, body: HelpBody, db: Db, caller: Caller) -> EventResult:
    """The requester asks the supplier for help on an open order."""
    async with _command_errors(db, order_id):
        event = await commands.request_help(
            db,
            order_id=order_id,
            department=caller.department,
            subject=body.subject,
            message=body.message,
        )
    return EventResult(order_id=order_id, event_id=event.event_id, event_type=event.event_type)


@router.get(
    "/orders/{order_id}/help",
    tags=["help"],
    response_model=list[HelpRequestView],
    responses={401: PROBLEM, 404: PROBLEM},
)
async def help_requests(order_id: UUID, db: Db, caller: Caller) -> list[dict[str, Any]]:
    """The order's help requests with their state and history; supplier or requester only."""
    visible = visible_to(caller)
    if await store.work_item_view(db, order_id, visible=visible) is None:
        raise Problem(404, f"no work item for order {order_id}", order_id=str(order_id))
    return await store.help_requests_view(db, order_id, visible=visible)


@router.post(
    "/orders/{order_id}/help/{help_event_id}/awaiting-requester",
    tags=["help"],
    status_code=201,
    response_model=EventResult,
    responses=HELP_ERRORS,
)
async def ask_requester(
    order_id: UUID, help_event_id: HelpEventId, body: QuestionBody, db: Db, caller: Caller
) -> EventResult:
    """The supplier puts an open or answered help request back to the requester with a
    question (the request awaits the requester)."""
    async with _command_errors(db, order_id):
        event = await commands.ask_requester(
            db,
            order_id=order_id,
            help_event_id=help_event_id,
            department=caller.department,
            question=body.question,
        )
    return EventResult(order_id=order_id, event_id=event.event_id, event_type=event.event_type)


@router.post(
    "/orders/{order_id}/help/{help_event_id}/answer",
    tags=["help"],
    status_code=201,
    response_model=EventResult,
    responses=HELP_ERRORS,
)
async def answer_help(
    order_id: UUID, help_event_id: HelpEventId, body: AnswerBody, db: Db, caller: Caller
) -> EventResult:
    """The requester answers the question of a help request awaiting it."""
    async with _command_errors(db, order_id):
        event = await commands.answer_help(
            db,
            order_id=order_id,
            help_event_id=help_event_id,
            department=caller.department,
            answer=body.answer,
        )
    return EventResult(order_id=order_id, event_id=event.event_id, event_type=event.event_type)
