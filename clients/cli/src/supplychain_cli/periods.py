"""`supplychain periods ...`: accounting months per legal entity (invoicing, a finance key).

Closing a month stops anything posting into it for the legal entity (late documents go to the
first open month and name this one) and makes its statements final; reopening is audited.
Use a finance key: SUPPLYCHAIN_API_KEY=dev-finance-1 under `make run`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from supplychain_cli.context import api_of, read
from supplychain_cli.money import PERIOD
from supplychain_cli.output import (
    Exit,
    JsonOption,
    WideOption,
    console,
    emit_json,
    fail,
    table,
    when,
)

app = typer.Typer(
    help="Close and reopen accounting months per legal entity (a finance key).",
    no_args_is_help=True,
)
LegalEntity = Annotated[str, typer.Argument(help="the legal entity's code", show_default=False)]
Month = Annotated[str, typer.Argument(help="the month, YYYY-MM", show_default=False)]


def month_of(value: str) -> str:
    if not PERIOD.match(value):
        fail(Exit.USAGE, f"the month must be YYYY-MM, not {value!r}")
    return value


def show_month(month: dict[str, Any]) -> None:
    closed = (
        f" by {month['closed_by']} at {when(month['closed_at'])}" if month.get("closed_at") else ""
    )
    console.print(f"[bold]{month['legal_entity']} {month['period']}[/]  {month['status']}{closed}")
    for change in month.get("history") or ():
        console.print(
            f"  {when(change['at'])}  {change['action']} by {change['by']}"
            + (f": {change['reason']}" if change.get("reason") else "")
        )


@app.command("list")
def list_periods(
    ctx: typer.Context,
    legal_entity: Annotated[str | None, typer.Option(help="only this legal entity")] = None,
    status: Annotated[str | None, typer.Option(help="open or closed")] = None,
    wide: WideOption = False,
    as_json: JsonOption = False,
) -> None:
    """Every month finance closed (and maybe reopened) with its history; a month not listed
    is open (GET /v1/periods)."""
    if status is not None and status not in ("open", "closed"):
        fail(Exit.USAGE, f"--status must be open or closed, not {status!r}")
    months = read(
        ctx, "invoicing", "/v1/periods", legal_entity=legal_entity, status=status, as_json=as_json
    )
    console.print(
        table(
            "periods",
            ["legal entity", "month", "status", "closed", "by", "changes"],
            [
                (
                    m["legal_entity"],
                    m["period"],
                    m["status"],
                    when(m["closed_at"]),
                    m["closed_by"],
                    len(m.get("history") or ()),
                )
                for m in months
            ],
            wide=wide,
        )
    )


def _change(
    ctx: typer.Context, legal_entity: str, month: str, action: str, reason: str, as_json: bool
) -> None:
    path = f"/v1/admin/periods/{legal_entity}/{month_of(month)}/{action}"
    with api_of(ctx, as_json=as_json) as api:
        changed = api.post("invoicing", path, {"reason": reason}).json()
    if as_json:
        emit_json(changed)
        return
    verb = {"close": "closed", "reopen": "reopened"}[action]
    console.print(
        f"{verb}: {legal_entity} {month}"
        if changed.get("changed")
        else f"unchanged: {legal_entity} {month} was {changed['status']} already"
    )
    show_month(changed)


@app.command()
def close(
    ctx: typer.Context,
    legal_entity: LegalEntity,
    month: Month,
    reason: Annotated[str, typer.Option(help="why, for the audit trail")] = "",
    as_json: JsonOption = False,
) -> None:
    """Close the month for the legal entity: its statements become final
    (POST /v1/admin/periods/{entity}/{month}/close)."""
    _change(ctx, legal_entity, month, "close", reason, as_json)


@app.command()
def reopen(
    ctx: typer.Context,
    legal_entity: LegalEntity,
    month: Month,
    reason: Annotated[str, typer.Option(help="why the month is reopened (required, audited)")],
    as_json: JsonOption = False,
) -> None:
    """Reopen a closed month: audited with who, when and why; its statements are computed
    live again (POST /v1/admin/periods/{entity}/{month}/reopen)."""
    if not reason.strip():
        fail(Exit.USAGE, "--reason must say why the month is reopened")
    _change(ctx, legal_entity, month, "reopen", reason, as_json)
