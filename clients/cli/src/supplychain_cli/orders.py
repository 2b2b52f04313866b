"""`supplychain orders ...`: place, read, list, cancel and approve orders (order intake)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

import typer

from supplychain_cli import watch as live
from supplychain_cli.context import api_of, read
from supplychain_cli.output import (
    Exit,
    JsonOption,
    WideOption,
    console,
    emit_json,
    fail,
    table,
    uuid_of,
    when,
)

app = typer.Typer(help="Place, read, list, cancel, approve and watch orders.", no_args_is_help=True)

OrderId = Annotated[str, typer.Argument(help="the order's id (UUID)", show_default=False)]


def order_id_of(value: str) -> str:
    return uuid_of(value, "an order id")


def show_order(order: dict[str, Any]) -> None:
    console.print(
        f"[bold]order {order['order_id']}[/]  {order['requester']} -> {order['supplier']}  "
        f"[bold]{order['status']}[/]  {order['total']} {order['currency']}  "
        f"priority {order['priority']}"
    )
    if order.get("root_order_id") != order.get("order_id"):
        console.print(f"  chain {order['root_order_id']}")
    if order.get("employee_id"):
        console.print(f"  employee {order['employee_id']}")
    for warning in order.get("warnings") or ():
        console.print(f"  [yellow]warning:[/] {warning}")
    line = live.cancellation_line(order)
    if line:
        console.print(f"  {line}")
    console.print(
        table(
            "lines",
            ["sku", "quantity", "unit price"],
            [(line["sku"], line["quantity"], line["unit_price"]) for line in order["lines"]],
        )
    )
    if order.get("timeline"):
        console.print(
            table(
                "timeline",
                ["when", "event", "detail"],
                [
                    (when(entry["occurred_at"]), entry["event_type"], entry.get("detail"))
                    for entry in order["timeline"]
                ],
            )
        )


@app.command()
def place(
    ctx: typer.Context,
    requester: Annotated[str, typer.Option(help="the ordering department (the key's own)")],
    supplier: Annotated[str, typer.Option(help="the supplying department")],
    sku: Annotated[str, typer.Option(help="catalogue item of the supplier")],
    quantity: Annotated[int, typer.Option(min=1, help="units")] = 1,
    priority: Annotated[str, typer.Option(help="standard or rush")] = "standard",
    needed_by: Annotated[
        str | None, typer.Option(help="date the goods are needed by (YYYY-MM-DD)")
    ] = None,
    employee_id: Annotated[
        str | None, typer.Option(help="an employee of the requester buying from the shop")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(help="retry-safe key of this order attempt; generated and printed if absent"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Place an order (POST /v1/orders). Re-run with the printed --idempotency-key to retry
    safely: the same key and order is answered with the order already placed."""
    if priority not in ("standard", "rush"):
        fail(Exit.USAGE, f"--priority must be standard or rush, not {priority!r}")
    if needed_by is not None:
        try:
            date.fromisoformat(needed_by)
        except ValueError:
            fail(Exit.USAGE, f"--needed-by must be a date YYYY-MM-DD, not {needed_by!r}")
    key = idempotency_key or f"cli-{uuid.uuid4()}"
    body: dict[str, Any] = {
        "requester": requester,
        "supplier": supplier,
        "lines": [{"sku": sku, "quantity": quantity}],
        "priority": priority,
    }
    if needed_by:
        body["needed_by"] = needed_by
    if employee_id:
        body["employee_id"] = employee_id
    with api_of(ctx, as_json=as_json) as api:
        response = api.post("order-intake", "/v1/orders", body, headers={"Idempotency-Key": key})
    order = response.json()
    replayed = response.status_code == 200
    if as_json:
        emit_json({"idempotency_key": key, "replayed": replayed, "order": order})
        return
    verb = "already placed (replay of this key)" if replayed else "placed"
    console.print(f"{verb}: [bold]{order['order_id']}[/]  idempotency key {key}")
    show_order(order)


@app.command()
def show(ctx: typer.Context, order_id: OrderId, as_json: JsonOption = False) -> None:
    """An order with its lines, status and timeline (GET /v1/orders/{id})."""
    show_order(read(ctx, "order-intake", f"/v1/orders/{order_id_of(order_id)}", as_json=as_json))


@app.command("list")
def list_orders(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="only orders in this status")] = None,
    supplier: Annotated[str | None, typer.Option(help="only orders to this supplier")] = None,
    since: Annotated[str | None, typer.Option(help="only orders received since (ISO 8601)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="page size")] = 20,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    wide: WideOption = False,
    as_json: JsonOption = False,
) -> None:
    """The key's department's orders, newest first (GET /v1/orders)."""
    page = read(
        ctx,
        "order-intake",
        "/v1/orders",
        status=status,
        supplier=supplier,
        since=since,
        limit=limit,
        cursor=cursor,
        as_json=as_json,
    )
    console.print(
        table(
            "orders",
            ["order", "requester", "supplier", "status", "total", "priority", "created"],
            [
                (
                    o["order_id"],
                    o["requester"],
                    o["supplier"],
                    o["status"],
                    f"{o['total']} {o['currency']}",
                    o["priority"],
                    o["created_at"],
                )
                for o in page["orders"]
            ],
            ids=("order",),
            times=("created",),
            extra=("priority",),
            wide=wide,
        )
    )
    if page.get("next_cursor"):
        console.print(f"more: --cursor {page['next_cursor']}")


@app.command()
def cancel(
    ctx: typer.Context,
    order_id: OrderId,
    reason: Annotated[str, typer.Option(help="shown to the supplier")] = "",
    as_json: JsonOption = False,
) -> None:
    """Ask the supplier to cancel an order (POST /v1/orders/{id}/cancel): 202, the
    cancellation is requested and the supplier settles it (WorkCancelled: cancelled, nothing
    charged; CancellationRefused, e.g. already shipped: the order goes on). `orders show` and
    `orders watch` tell which. An order still pending approval is withdrawn at once."""
    with api_of(ctx, as_json=as_json) as api:
        response = api.post(
            "order-intake", f"/v1/orders/{order_id_of(order_id)}/cancel", {"reason": reason}
        )
    answer = response.json()
    if as_json:
        emit_json(answer)
        return
    status = answer.get("status")
    if response.status_code == 202 or status == "cancellation_requested":
        console.print(
            f"cancellation requested: {answer['order_id']} (order still "
            f"{answer.get('order_status', '?')}; the supplier settles it: "
            f"supplychain orders watch {answer['order_id']})"
        )
    else:
        console.print(f"cancelled: {answer['order_id']} (withdrawn before the supplier knew it)")


@app.command()
def approve(ctx: typer.Context, order_id: OrderId, as_json: JsonOption = False) -> None:
    """Approve an order pending approval with a second key of the department
    (POST /v1/orders/{id}/approve)."""
    with api_of(ctx, as_json=as_json) as api:
        order = api.post("order-intake", f"/v1/orders/{order_id_of(order_id)}/approve").json()
    if as_json:
        emit_json(order)
    else:
        console.print(f"approved: {order['order_id']} ({order['status']})")


@app.command()
def watch(
    ctx: typer.Context,
    order_id: OrderId,
    timeout: Annotated[float, typer.Option(min=0.1, help="give up after this many seconds")] = 300,
    interval: Annotated[float, typer.Option(min=0.1, help="seconds between refreshes")] = 0.5,
    as_json: JsonOption = False,
) -> None:
    """A live tree of the order's chain: each order and sub-order, each handoff's state,
    elapsed time against its SLA target and the countdown to its deadline.

    Ends by itself: exit 0 when the order is delivered and invoiced, 4 when it is rejected,
    cancelled (the supplier stopped the work) or blocked, 5 at --timeout. A cancellation
    requested or refused (with the supplier's reason) shows under the order."""
    with api_of(ctx, as_json=as_json) as api:
        outcome = live.watch_chain(
            api,
            order_id_of(order_id),
            timeout_s=timeout,
            interval_s=interval,
            as_json=as_json,
        )
    if outcome.code is not Exit.OK:
        if not as_json:
            console.print(f"[bold red]{outcome.message}[/]")
        raise typer.Exit(int(outcome.code))
    if not as_json:
        console.print(f"[bold green]{outcome.message}[/]")
