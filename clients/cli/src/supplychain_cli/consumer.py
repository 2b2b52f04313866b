"""`supplychain consumer ...`: the records a service's consumer parked because their event type
is newer than its contracts (a producer upgraded first), until a version that knows the type
starts and applies them, in order, once (operators; SUPPLYCHAIN_API_KEY an operator key)."""

from __future__ import annotations

import typer

from supplychain_cli.context import read
from supplychain_cli.outbox import Service
from supplychain_cli.output import JsonOption, WideOption, console, table

app = typer.Typer(
    help="Records a service's consumer parked (event types newer than its contracts): list "
    "them; deploying the version that knows them applies them (operator key).",
    no_args_is_help=True,
)
PARKING = "/v1/operations/consumer-parking"


@app.command()
def parked(
    ctx: typer.Context, service: Service, wide: WideOption = False, as_json: JsonOption = False
) -> None:
    """The records the service's consumer parked, in the order they came."""
    rows = read(ctx, service, PARKING, as_json=as_json)
    console.print(
        table(
            f"records parked by {service}'s consumer ({len(rows)})",
            ["id", "event type", "topic", "partition", "offset", "group", "first seen"],
            [
                (
                    r["id"],
                    r["event_type"],
                    r["topic"],
                    r["partition"],
                    r["offset"],
                    r["consumer_group"],
                    r["first_seen_at"],
                )
                for r in rows
            ],
            times=("first seen",),
            extra=("group",),
            nowrap=("id", "event type"),
            wide=wide,
        )
    )
