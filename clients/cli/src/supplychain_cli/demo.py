"""`supplychain demo` (and `make demo`): an e-bike chain placed, watched live to invoiced,
its invoice, and where to look next, against a running `make run`."""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Annotated, Any

import typer

from supplychain_cli import watch as live
from supplychain_cli.api import Api
from supplychain_cli.context import config_of
from supplychain_cli.money import show_invoice
from supplychain_cli.orders import show_order
from supplychain_cli.output import Exit, JsonOption, console, emit_json, fail


def development_key(department: str) -> str:
    """The development key `make run` accepts for a department (supplychain_kit.http.auth)."""
    return f"dev-{department.lower()}-1"


def invoice_of(api: Api, order_id: str, *, timeout_s: float = 15) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout_s
    while True:
        invoices = api.get("invoicing", "/v1/invoices", limit=100)
        found = next((i for i in invoices if i["order_id"] == order_id), None)
        if found is not None:  # the list leaves lines out: the invoice itself has them
            invoice: dict[str, Any] = api.get("invoicing", f"/v1/invoices/{found['invoice_id']}")
            return invoice
        if time.monotonic() > deadline:
            return None
        time.sleep(0.3)


def demo(
    ctx: typer.Context,
    requester: Annotated[str, typer.Option(help="the ordering department")] = "RETAIL_OPS",
    sku: Annotated[str, typer.Option(help="what it orders")] = "EBIKE-CITY",
    quantity: Annotated[int, typer.Option(min=1)] = 1,
    timeout: Annotated[float, typer.Option(min=1, help="seconds to wait for the invoice")] = 180,
    as_json: JsonOption = False,
) -> None:
    """Place an e-bike chain (RETAIL_OPS orders EBIKE-CITY from ASSEMBLY, which orders frame,
    wheels and drive, the frame its tubes, dropouts and paint), watch it live until it is
    invoiced, print its handoff tree and invoice, and where to look next. Uses
    SUPPLYCHAIN_API_KEY, else the requester's development key of `make run`."""
    config = config_of(ctx)
    if not config.api_key:
        config = dataclasses.replace(config, api_key=development_key(requester))
    with Api(config, as_json=as_json) as api:
        catalogue = api.get("order-intake", "/v1/catalogue")
        item = next((i for i in catalogue if i["sku"] == sku), None)
        if item is None:
            fail(Exit.REFUSED, f"{sku} is not in the catalogue of the running company")
        key = f"demo-{uuid.uuid4()}"
        body = {
            "requester": requester,
            "supplier": item["supplier"],
            "lines": [{"sku": sku, "quantity": quantity}],
        }
        order = api.post(
            "order-intake", "/v1/orders", body, headers={"Idempotency-Key": key}
        ).json()
        order_id = order["order_id"]
        if not as_json:
            console.rule(f"1. {requester} orders {quantity} x {sku} from {item['supplier']}")
            console.print(f"placed {order_id} (idempotency key {key})")
            console.rule("2. the chain, live: every handoff against its SLA")
        outcome = live.watch_chain(
            api, order_id, timeout_s=timeout, interval_s=0.5, as_json=as_json, quiet=as_json
        )
        invoice = invoice_of(api, order_id) if outcome.code is Exit.OK else None
        final = api.get("order-intake", f"/v1/orders/{order_id}")
    urls = config.urls()
    next_steps = {
        "console": f"{urls['monitoring']}/console",
        "handoffs": f"{urls['monitoring']}/v1/orders/{order_id}/handoffs",
        "order": f"{urls['order-intake']}/v1/orders/{order_id}",
        "api docs": ", ".join(f"{u}/docs" for u in urls.values()),
        "metrics": f"{urls['monitoring']}/metrics",
        "cli": f"supplychain orders show {order_id}; supplychain statement {requester} "
        "--csv statement.csv; supplychain dlq list",
    }
    if as_json:
        emit_json(
            {
                "outcome": outcome.message,
                "exit_code": int(outcome.code),
                "order": final,
                "invoice": invoice,
                "next": next_steps,
            }
        )
    else:
        console.print(
            outcome.message, style="bold green" if outcome.code is Exit.OK else "bold red"
        )
        console.rule("3. the order and its invoice")
        show_order(final)
        if invoice is not None:
            show_invoice(invoice)
        console.rule("4. where to look next")
        for what, where in next_steps.items():
            console.print(f"  {what:<9} {where}", highlight=False, soft_wrap=True)
    if outcome.code is not Exit.OK:
        raise typer.Exit(int(outcome.code))
