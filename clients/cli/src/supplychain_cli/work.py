"""A supplier's queue and work, a requester's receipt, feedback and help (fulfilment)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from supplychain_cli.context import api_of, read
from supplychain_cli.orders import OrderId, order_id_of
from supplychain_cli.output import (
    Exit,
    JsonOption,
    WideOption,
    console,
    emit_json,
    fail,
    table,
    uuid_of,
)

work_app = typer.Typer(
    help="A supplier's commands on an order: accept, reject, start, ship.", no_args_is_help=True
)


def queue(
    ctx: typer.Context,
    department: Annotated[str, typer.Argument(help="the supplying department (the key's own)")],
    wide: WideOption = False,
    as_json: JsonOption = False,
) -> None:
    """Open work of a supplier department, rush and earliest due first
    (GET /v1/departments/{code}/queue)."""
    items = read(ctx, "fulfilment", f"/v1/departments/{department.upper()}/queue", as_json=as_json)
    console.print(
        table(
            f"queue of {department.upper()}",
            ["order", "requester", "status", "priority", "needed by", "lines", "sub-orders"],
            [
                (
                    item["order_id"],
                    item["requester"],
                    item["status"],
                    item["priority"],
                    item.get("needed_by"),
                    ", ".join(f"{line['quantity']} x {line['sku']}" for line in item["lines"]),
                    ", ".join(
                        f"{s['sku']} {s['supplier']} {s['status']}" for s in item["sub_orders"]
                    ),
                )
                for item in items
            ],
            ids=("order",),
            extra=("priority", "needed by"),
            fill=("lines", "sub-orders"),
            nowrap=("status",),
            wide=wide,
        )
    )


def _show_result(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    if "status" in result:
        console.print(f"{result['event_type']}: {result['order_id']} now {result['status']}")
    else:  # feedback and help: the event's id names it (a help request's id for its steps)
        console.print(f"{result['event_type']}: {result['order_id']} event {result['event_id']}")
    for sub in result.get("sub_orders") or ():
        console.print(
            f"  sub-order {sub['order_id']}: {sub['quantity']} x {sub['sku']} from {sub['supplier']}"
        )


def _supplier_command(
    ctx: typer.Context, order_id: str, action: str, reason: str | None, as_json: bool
) -> None:
    body = {"reason": reason} if reason else None
    with api_of(ctx, as_json=as_json) as api:
        result = api.post("fulfilment", f"/v1/fulfilments/{order_id_of(order_id)}/{action}", body)
    _show_result(result.json(), as_json)


@work_app.command()
def accept(ctx: typer.Context, order_id: OrderId, as_json: JsonOption = False) -> None:
    """Accept an order: sub-orders are raised for its components."""
    _supplier_command(ctx, order_id, "accept", None, as_json)


@work_app.command()
def reject(
    ctx: typer.Context,
    order_id: OrderId,
    reason: Annotated[str, typer.Option(help="why, shown to the requester")] = "",
    as_json: JsonOption = False,
) -> None:
    """Reject an order (with a reason)."""
    _supplier_command(ctx, order_id, "reject", reason, as_json)


@work_app.command()
def start(ctx: typer.Context, order_id: OrderId, as_json: JsonOption = False) -> None:
    """Start work on an accepted order."""
    _supplier_command(ctx, order_id, "start", None, as_json)


@work_app.command()
def ship(ctx: typer.Context, order_id: OrderId, as_json: JsonOption = False) -> None:
    """Ship an order (every sub-order must be delivered first)."""
    _supplier_command(ctx, order_id, "ship", None, as_json)


def receipt(ctx: typer.Context, order_id: OrderId, as_json: JsonOption = False) -> None:
    """The requester confirms delivery (POST /v1/orders/{id}/receipt)."""
    with api_of(ctx, as_json=as_json) as api:
        result = api.post("fulfilment", f"/v1/orders/{order_id_of(order_id)}/receipt")
    _show_result(result.json(), as_json)


def feedback(
    ctx: typer.Context,
    order_id: OrderId,
    rating: Annotated[int, typer.Option(min=1, max=5, help="1 (poor) to 5 (excellent)")],
    comment: Annotated[str, typer.Option(help="what went well or not")] = "",
    as_json: JsonOption = False,
) -> None:
    """The requester rates a delivered order, once (POST /v1/orders/{id}/feedback)."""
    with api_of(ctx, as_json=as_json) as api:
        result = api.post(
            "fulfilment",
            f"/v1/orders/{order_id_of(order_id)}/feedback",
            {"rating": rating, "comment": comment},
        )
    _show_result(result.json(), as_json)


def help_request(
    ctx: typer.Context,
    order_id: OrderId,
    subject: Annotated[str, typer.Option(help="what it is about")],
    message: Annotated[str, typer.Option(help="the request")] = "",
    as_json: JsonOption = False,
) -> None:
    """The requester asks the supplier for help on an open order
    (POST /v1/orders/{id}/help)."""
    if not subject.strip():
        fail(Exit.USAGE, "--subject must not be empty")
    with api_of(ctx, as_json=as_json) as api:
        result = api.post(
            "fulfilment",
            f"/v1/orders/{order_id_of(order_id)}/help",
            {"subject": subject, "message": message},
        )
    _show_result(result.json(), as_json)


HelpEventId = Annotated[
    str,
    typer.Argument(
        help="the help request's id (the HelpRequested event id `help` printed)",
        show_default=False,
    ),
]


def _help_url(order_id: str, help_event_id: str) -> str:
    order = order_id_of(order_id)
    return f"/v1/orders/{order}/help/{uuid_of(help_event_id, 'a help request id')}"


def help_awaiting_requester(
    ctx: typer.Context,
    order_id: OrderId,
    help_event_id: HelpEventId,
    question: Annotated[str, typer.Option(help="what the supplier needs to know")],
    as_json: JsonOption = False,
) -> None:
    """The supplier puts a help request back to the requester with a question
    (POST /v1/orders/{id}/help/{help_event_id}/awaiting-requester)."""
    if not question.strip():
        fail(Exit.USAGE, "--question must not be empty")
    url = f"{_help_url(order_id, help_event_id)}/awaiting-requester"
    with api_of(ctx, as_json=as_json) as api:
        result = api.post("fulfilment", url, {"question": question})
    _show_result(result.json(), as_json)


def help_answer(
    ctx: typer.Context,
    order_id: OrderId,
    help_event_id: HelpEventId,
    answer: Annotated[str, typer.Option(help="the requester's answer to the question")],
    as_json: JsonOption = False,
) -> None:
    """The requester answers the supplier's question on a help request
    (POST /v1/orders/{id}/help/{help_event_id}/answer)."""
    if not answer.strip():
        fail(Exit.USAGE, "--answer must not be empty")
    url = f"{_help_url(order_id, help_event_id)}/answer"
    with api_of(ctx, as_json=as_json) as api:
        result = api.post("fulfilment", url, {"answer": answer})
    _show_result(result.json(), as_json)


def help_requests(
    ctx: typer.Context, order_id: OrderId, wide: WideOption = False, as_json: JsonOption = False
) -> None:
    """An order's help requests with their state and history, for its supplier or requester
    (GET /v1/orders/{id}/help)."""
    requests = read(ctx, "fulfilment", f"/v1/orders/{order_id_of(order_id)}/help", as_json=as_json)
    console.print(
        table(
            f"help requests on {order_id}",
            ["help request", "subject", "status", "history"],
            [
                (
                    request["help_event_id"],
                    request["subject"],
                    request["status"],
                    "; ".join(f"{h['department']}: {h['text']}" for h in request["history"]),
                )
                for request in requests
            ],
            ids=("help request",),
            fill=("history",),
            wide=wide,
        )
    )
