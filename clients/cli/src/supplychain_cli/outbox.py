"""`supplychain outbox ...`: a service's outbox rows the broker refused for good, parked until an
operator releases them (operators; SUPPLYCHAIN_API_KEY an operator key). The service records
who released them (OutboxRowsReleased on the operations topic)."""

from __future__ import annotations

from typing import Annotated, Literal

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
)

app = typer.Typer(
    help="Outbox rows the broker refused for good (too large, a missing topic), parked by their "
    "service: list them, and release them once the cause is fixed (operator key).",
    no_args_is_help=True,
)
PARKING = "/v1/operations/outbox-parking"
Service = Annotated[
    Literal["order-intake", "fulfilment", "invoicing", "monitoring"],
    typer.Option(help="the service whose outbox it is"),
]


@app.command()
def parked(
    ctx: typer.Context, service: Service, wide: WideOption = False, as_json: JsonOption = False
) -> None:
    """The parked rows of a service's outbox, oldest first."""
    rows = read(ctx, service, PARKING, as_json=as_json)
    console.print(
        table(
            f"parked outbox rows of {service} ({len(rows)})",
            ["id", "topic", "key", "event type", "attempts", "parked at", "error"],
            [
                (
                    r["outbox_id"],
                    r["topic"],
                    r["key"],
                    r["event_type"],
                    r["attempts"],
                    r["parked_at"],
                    r["last_error"],
                )
                for r in rows
            ],
            ids=("key",),
            times=("parked at",),
            extra=("topic", "attempts"),
            nowrap=("id", "event type"),
            fill=("error",),
            wide=wide,
        )
    )


@app.command()
def release(
    ctx: typer.Context,
    service: Service,
    outbox_id: Annotated[
        list[int] | None, typer.Option("--id", help="an outbox id (repeatable)")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="every parked row")] = False,
    reason: Annotated[str, typer.Option(help="why, recorded with the release")] = "",
    as_json: JsonOption = False,
) -> None:
    """Retry parked rows of a service's outbox, in order. Exit 2 when a row asked for was not
    parked."""
    if bool(outbox_id) == every:
        fail(Exit.USAGE, "give --id (repeatable) or --all")
    body = {"outbox_ids": "all" if every else outbox_id, "reason": reason}
    with api_of(ctx, as_json=as_json) as api:
        result = api.post(service, f"{PARKING}/release", body).json()
    if as_json:
        emit_json(result)
    else:
        console.print(f"released {len(result['released'])} rows of {service}: {result['released']}")
    if result["not_parked"]:
        fail(Exit.REFUSED, f"not parked: {result['not_parked']}")
