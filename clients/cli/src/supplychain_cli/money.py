"""Invoices, statements and the trial balance (invoicing); scorecards (monitoring)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
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

invoices_app = typer.Typer(help="The key's department's invoices.", no_args_is_help=True)
PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def period_of(value: str | None) -> str:
    """YYYY-MM, this month (UTC) when not given."""
    period = value or datetime.now(UTC).strftime("%Y-%m")
    if not PERIOD.match(period):
        fail(Exit.USAGE, f"--period must be a month YYYY-MM, not {period!r}")
    return period


PeriodOption = Annotated[str | None, typer.Option(help="month YYYY-MM (default: this month)")]


def show_invoice(invoice: dict[str, Any]) -> None:
    console.print(
        f"[bold]invoice {invoice['invoice_id']}[/]  order {invoice['order_id']}\n"
        f"  {invoice['supplier']} ({invoice['supplier_cost_centre']}) charges "
        f"{invoice['requester']} ({invoice['requester_cost_centre']})"
        + (f" employee {invoice['employee_id']}" if invoice.get("employee_id") else "")
        + f"\n  period {invoice['period']}  total [bold]{invoice['total']} {invoice['currency']}[/]"
        f"  issued {when(invoice['issued_at'])}"
    )
    console.print(
        table(
            "lines",
            ["sku", "quantity", "unit price", "amount"],
            [(x["sku"], x["quantity"], x["unit_price"], x["amount"]) for x in invoice["lines"]],
        )
    )
    for note in invoice.get("credit_notes") or ():
        console.print(
            f"  credit note {note['credit_note_id']}: -{note['amount']} ({note['reason']})"
        )


@invoices_app.command("list")
def list_invoices(
    ctx: typer.Context,
    period: Annotated[str | None, typer.Option(help="only this month (YYYY-MM)")] = None,
    department: Annotated[
        str | None, typer.Option(help="the key's department (the default)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    wide: WideOption = False,
    as_json: JsonOption = False,
) -> None:
    """Invoices the department charged or was charged, newest first (GET /v1/invoices)."""
    if period is not None:
        period_of(period)
    invoices = read(
        ctx,
        "invoicing",
        "/v1/invoices",
        period=period,
        department=department,
        limit=limit,
        offset=offset,
        as_json=as_json,
    )
    console.print(
        table(
            "invoices",
            ["invoice", "order", "supplier", "requester", "period", "total", "issued"],
            [
                (
                    i["invoice_id"],
                    i["order_id"],
                    i["supplier"],
                    i["requester"],
                    i["period"],
                    f"{i['total']} {i['currency']}",
                    i["issued_at"],
                )
                for i in invoices
            ],
            ids=("invoice", "order"),
            times=("issued",),
            extra=("period",),
            wide=wide,
        )
    )


@invoices_app.command("show")
def show_invoice_command(
    ctx: typer.Context,
    invoice_id: Annotated[str, typer.Argument(help="the invoice's id (UUID)")],
    as_json: JsonOption = False,
) -> None:
    """One invoice with its lines and credit notes (GET /v1/invoices/{id})."""
    show_invoice(
        read(
            ctx,
            "invoicing",
            f"/v1/invoices/{uuid_of(invoice_id, 'an invoice id')}",
            as_json=as_json,
        )
    )


def statement(
    ctx: typer.Context,
    department: Annotated[str, typer.Argument(help="the department (the key's own)")],
    period: PeriodOption = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="also write the statement as CSV to this file")
    ] = None,
    wide: WideOption = False,
    as_json: JsonOption = False,
) -> None:
    """What the department charged and was charged in a month
    (GET /v1/statements/{code}?period=)."""
    month = period_of(period)
    code = department.upper()
    with api_of(ctx, as_json=as_json) as api:
        document = api.get("invoicing", f"/v1/statements/{code}", period=month)
        if csv is not None:
            text = api.send(
                "invoicing",
                "GET",
                f"/v1/statements/{code}",
                params={"period": month},
                headers={"Accept": "text/csv"},
            ).text
            csv.write_text(text, encoding="utf-8")
    if as_json:
        emit_json({**document, "csv_file": str(csv) if csv else None})
        return
    for side in ("as_supplier", "as_requester"):
        section = document[side]
        console.print(
            table(
                f"{code} {month} {side.replace('_', ' ')}: invoiced {section['invoiced']}, "
                f"credited {section['credited']}, net {section['net']}",
                ["document", "order", "supplier", "requester", "amount", "issued"],
                [
                    (
                        d["document_id"],
                        d["order_id"],
                        d["supplier"],
                        d["requester"],
                        d["amount"],
                        when(d["issued_at"]),
                    )
                    for d in section["invoices"] + section["credit_notes"]
                ],
                ids=("document", "order"),
                wide=wide,
            )
        )
    console.print(f"net {document['net']}")
    if csv is not None:
        console.print(f"CSV written to {csv}")


def trial_balance(
    ctx: typer.Context,
    period: Annotated[str | None, typer.Option(help="month YYYY-MM (default: all periods)")] = None,
    wide: WideOption = False,
    as_json: JsonOption = False,
) -> None:
    """Debit and credit per account of the internal ledger (GET /v1/ledger/trial-balance):
    the whole ledger with a finance key, a department's own cost centre's lines with its key."""
    if period is not None:
        period_of(period)
    balance = read(ctx, "invoicing", "/v1/ledger/trial-balance", period=period, as_json=as_json)
    console.print(
        table(
            f"trial balance {balance['period'] or '(all periods)'}: " + _balance_title(balance),
            ["entity", "account", "cost centre", "counterparty", "debit", "credit", "balance"],
            [
                (
                    a["legal_entity"],
                    a["account"],
                    a["cost_centre"],
                    a["counterparty_entity"],
                    a["debit"],
                    a["credit"],
                    f"{a['balance']} {a['currency']}",
                )
                for a in balance["accounts"]
            ],
            extra=("cost centre", "counterparty"),
            nowrap=("account",),
            wide=wide,
        )
    )
    for currency, totals in balance["totals"].items():
        console.print(
            f"total {currency}: debit {totals['debit']}  credit {totals['credit']}  "
            f"balance {totals['balance']}"
        )


def scorecard(
    ctx: typer.Context,
    period: PeriodOption = None,
    wide: WideOption = False,
    as_json: JsonOption = False,
) -> None:
    """Per supplier in a month: orders, on-time % per stage, rejects, breaches, satisfaction
    (GET /v1/scorecards?period=)."""
    month = period_of(period)
    cards = read(ctx, "monitoring", "/v1/scorecards", period=month, as_json=as_json)
    stages = sorted({stage for card in cards for stage in card.get("on_time_pct") or {}})
    per_stage = [f"on time {s} %" for s in stages]
    console.print(
        table(
            f"scorecards {month}" + ("" if wide else " (--wide: on time % per stage)"),
            [
                "supplier",
                "orders",
                *per_stage,
                "rejected",
                "breaches",
                "satisfaction",
                "help",
            ],
            [
                (
                    card["supplier"],
                    card["orders_handled"],
                    *(_cell((card.get("on_time_pct") or {}).get(s)) for s in stages),
                    card["rejected"],
                    card["breaches"],
                    _cell(card.get("average_satisfaction")),
                    card["help_requests"],
                )
                for card in cards
            ],
            extra=[column for column in per_stage if column != "on time end_to_end %"],
            wide=wide,
        )
    )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return "" if value is None else str(value)


def _balance_title(balance: dict[str, Any]) -> str:
    """A department's own lines need not net to zero (the other side is its counterparty's):
    only the whole ledger is balanced or not."""
    if balance.get("department"):
        return f"the lines of {balance['department']}'s cost centre"
    return "balanced" if balance["balanced"] else "NOT BALANCED"
