"""`supplychain disputes ...`: dispute an invoice, settle a dispute, read them (invoicing).

The requester opens a dispute of an invoice it was charged; the supplier accepts it (a credit
note of kind `dispute` for the amount) or rejects it with a reason. A dispute left open longer
than the configured business days is `escalated` and finance sees it (a finance key lists
every dispute).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

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

app = typer.Typer(
    help="Dispute an invoice (requester), accept or reject a dispute (supplier), list them.",
    no_args_is_help=True,
)
STATUSES = ("open", "escalated", "accepted", "rejected")
DisputeId = Annotated[str, typer.Argument(help="the dispute's id (UUID)", show_default=False)]


def amount_of(value: str) -> str:
    """A positive amount with at most two decimals, kept as the decimal string it is."""
    try:
        amount = Decimal(value)
    except InvalidOperation:
        amount = Decimal("NaN")
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or amount <= 0 or not isinstance(exponent, int) or exponent < -2:
        fail(Exit.USAGE, f"--amount must be a positive amount like 12.50, not {value!r}")
    return value


def show_dispute(dispute: dict[str, Any]) -> None:
    console.print(
        f"[bold]dispute {dispute['dispute_id']}[/]  [bold]{dispute['status']}[/]  "
        f"{dispute['amount']} {dispute['currency']}\n"
        f"  invoice {dispute['invoice_id']}  order {dispute['order_id']}\n"
        f"  {dispute['requester']} disputes {dispute['supplier']}'s charge: {dispute['reason']}\n"
        f"  opened {when(dispute['opened_at'])} by {dispute.get('opened_by') or '?'}"
        + (
            f"  escalates {when(dispute['escalate_at'])}"
            if dispute.get("escalate_at") and not dispute.get("settled_at")
            else ""
        )
    )
    if dispute.get("escalated_at"):
        console.print(
            f"  [yellow]escalated[/] {when(dispute['escalated_at'])}: finance takes it up"
        )
    if dispute.get("settled_at"):
        console.print(
            f"  settled {when(dispute['settled_at'])} by {dispute.get('settled_by') or '?'}"
            + (f": {dispute['settle_reason']}" if dispute.get("settle_reason") else "")
        )
    if dispute.get("credit_note_id"):
        console.print(f"  credit note {dispute['credit_note_id']}")
    evidence = dispute.get("evidence") or {}
    if evidence.get("trace_id"):
        console.print(f"  trace {evidence['trace_id']}")
    if evidence.get("timeline"):
        console.print(
            table(
                "evidence: the order's timeline",
                ["when", "event"],
                [(when(e["occurred_at"]), e["type"]) for e in evidence["timeline"]],
            )
        )


@app.command("list")
def list_disputes(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="only disputes in this status: " + ", ".join(STATUSES))
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    wide: WideOption = False,
    as_json: JsonOption = False,
) -> None:
    """The key's department's disputes as either party, newest first; a finance key sees
    every one (--status escalated: those finance takes up) (GET /v1/disputes)."""
    if status is not None and status not in STATUSES:
        fail(Exit.USAGE, f"--status must be one of {', '.join(STATUSES)}, not {status!r}")
    disputes = read(
        ctx, "invoicing", "/v1/disputes", status=status, limit=limit, offset=offset, as_json=as_json
    )
    console.print(
        table(
            "disputes",
            ["dispute", "invoice", "requester -> supplier", "amount", "status", "opened", "reason"],
            [
                (
                    d["dispute_id"],
                    d["invoice_id"],
                    f"{d['requester']} -> {d['supplier']}",
                    f"{d['amount']} {d['currency']}",
                    d["status"],
                    d["opened_at"],
                    d["reason"],
                )
                for d in disputes
            ],
            ids=("dispute", "invoice"),
            times=("opened",),
            extra=("invoice",),
            fill=("reason",),
            nowrap=("requester -> supplier", "amount"),
            wide=wide,
        )
    )


@app.command()
def show(ctx: typer.Context, dispute_id: DisputeId, as_json: JsonOption = False) -> None:
    """One dispute with its evidence: the order's timeline and trace (GET /v1/disputes/{id})."""
    show_dispute(
        read(
            ctx, "invoicing", f"/v1/disputes/{uuid_of(dispute_id, 'a dispute id')}", as_json=as_json
        )
    )


@app.command("open")
def open_dispute(
    ctx: typer.Context,
    invoice_id: Annotated[str, typer.Argument(help="the disputed invoice's id (UUID)")],
    amount: Annotated[str, typer.Option(help="disputed amount, in the invoice's currency")],
    reason: Annotated[str, typer.Option(help="what is wrong with the charge")],
    as_json: JsonOption = False,
) -> None:
    """Dispute part of an invoice the key's department was charged; at most what is still
    outstanding after credits (POST /v1/invoices/{id}/disputes)."""
    body = {"amount": amount_of(amount), "reason": reason}
    if not reason.strip():
        fail(Exit.USAGE, "--reason must say what is wrong with the charge")
    path = f"/v1/invoices/{uuid_of(invoice_id, 'an invoice id')}/disputes"
    _post(ctx, path, body, said="opened", as_json=as_json)


def _post(
    ctx: typer.Context, path: str, body: dict[str, str] | None, *, said: str, as_json: bool
) -> None:
    """Send the dispute's change and show the dispute as it stands after it."""
    with api_of(ctx, as_json=as_json) as api:
        dispute = api.post("invoicing", path, body).json()
    if as_json:
        emit_json(dispute)
        return
    console.print(f"{said}: [bold]{dispute['dispute_id']}[/] ({dispute['status']})")
    show_dispute(dispute)


def _settle(
    ctx: typer.Context, dispute_id: str, action: str, reason: str | None, as_json: bool
) -> None:
    path = f"/v1/disputes/{uuid_of(dispute_id, 'a dispute id')}/{action}"
    body = {"reason": reason} if reason is not None else None
    _post(ctx, path, body, said=f"{action}ed", as_json=as_json)


@app.command()
def accept(
    ctx: typer.Context,
    dispute_id: DisputeId,
    reason: Annotated[str | None, typer.Option(help="a note for the requester")] = None,
    as_json: JsonOption = False,
) -> None:
    """Accept a dispute of the key's department's invoice (the supplier): a credit note of
    kind `dispute` for the amount (POST /v1/disputes/{id}/accept)."""
    _settle(ctx, dispute_id, "accept", reason, as_json)


@app.command()
def reject(
    ctx: typer.Context,
    dispute_id: DisputeId,
    reason: Annotated[str, typer.Option(help="why the charge stands (required)")],
    as_json: JsonOption = False,
) -> None:
    """Reject a dispute (the supplier): nothing is credited (POST /v1/disputes/{id}/reject)."""
    if not reason.strip():
        fail(Exit.USAGE, "--reason must say why the charge stands")
    _settle(ctx, dispute_id, "reject", reason, as_json)
