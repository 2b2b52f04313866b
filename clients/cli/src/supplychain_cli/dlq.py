"""`supplychain dlq ...`: list, show and redrive dead-letter records (operators).

Everything goes through the operator routes of the service that produces the topic
(`/v1/operations/dead-letters`, with SUPPLYCHAIN_API_KEY an operator key): the producer owns
its topic's writes, checks a redrive (the source topic from the dead-letter topic's name, a
corrected value keeping the event's identity) and records who asked. The CLI holds no broker
credentials.
"""

from __future__ import annotations

import functools
import json
import re
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
    when,
)

app = typer.Typer(
    help="Dead letters: records a consumer gave up on, with the error; redrive them to their "
    "source topic once the cause is fixed. Through the producing service's operator routes: "
    "SUPPLYCHAIN_API_KEY is an operator key (make run: dev-operator-1).",
    no_args_is_help=True,
)


# The service that produces each topic holds its dead letters and redrives them (the orders
# topic has two producers, fulfilment raising sub-orders; the reference topic two owners,
# monitoring for policies and calendars: either redrives any record of it).
@functools.cache
def topic_owners() -> dict[str, str]:
    # the contracts are imported by the commands that need them: importing them costs every
    # other command about half a second of start-up
    from supplychain_contracts import topics

    return {
        topics.ORDERS: "order-intake",
        topics.FULFILMENT: "fulfilment",
        topics.INVOICING: "invoicing",
        topics.SLA: "monitoring",
        topics.REFERENCE: "order-intake",
    }


DEAD_LETTERS = "/v1/operations/dead-letters"


def source_of(topic: str) -> str:
    """The source topic of a topic name given as source or `.dlq`."""
    from supplychain_contracts import topics

    return topic.removesuffix(topics.DLQ_SUFFIX)


def owner_of(topic: str) -> str:
    owner = topic_owners().get(source_of(topic))
    if owner is None:
        fail(
            Exit.USAGE,
            f"{topic} is no topic with dead letters to redrive (one of "
            f"{', '.join(topic_owners())}, or its .dlq)",
        )
    return owner


def error_summary(error: str, *, width: int = 60) -> str:
    """The gist of a dead-letter error on one line: pydantic's headline (`1 validation error
    for ...`) dropped, the lines joined."""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    if len(lines) > 1 and "validation error" in lines[0]:
        lines = lines[1:]
    text = re.sub(r"\s*\[type=[^\]]*\]|\s*For further information visit \S+", "", " ".join(lines))
    return text if len(text) <= width else text[: width - 1] + "…"


def _redriven(record: dict[str, Any]) -> str:
    done = record.get("redriven")
    return "" if not done else f"{when(done['occurred_at'])} {done['redriven_by']}"


@app.command("list")
def list_dead_letters(
    ctx: typer.Context,
    topic: Annotated[
        str | None,
        typer.Option(help="only the dead letters of this topic (source or .dlq name)"),
    ] = None,
    wide: WideOption = False,
    as_json: JsonOption = False,
) -> None:
    """Dead-letter records: coordinates, source record, consumer group, error, redrive."""
    wanted = [source_of(topic)] if topic else list(topic_owners())
    with api_of(ctx, as_json=as_json) as api:
        records = [
            record
            for name in wanted
            for record in api.get(owner_of(name), DEAD_LETTERS, topic=name)
        ]
    if as_json:
        emit_json(records)
        return
    rows = [
        (
            r["topic"],
            r["partition"],
            r["offset"],
            f"{r['source_partition']}@{r['source_offset']}",
            r["consumer_group"],
            r["error_type"],
            error_summary(r["error"] or ""),
            _redriven(r),
        )
        for r in records
    ]
    console.print(
        table(
            f"dead letters ({len(records)})",
            ["dlq topic", "p", "offset", "source", "group", "error type", "error", "redriven"],
            rows,
            extra=("source", "error type", "redriven"),
            nowrap=("dlq topic", "error type"),
            fill=("error",),
            wide=wide,
        )
    )


Topic = Annotated[
    str, typer.Argument(help="the dead-letter topic (e.g. supplychain.orders.v1.dlq)")
]
Partition = Annotated[int, typer.Argument(min=0, help="its partition")]
Offset = Annotated[int, typer.Argument(min=0, help="its offset")]


def _dlq_name(topic: str) -> str:
    from supplychain_contracts import topics

    return topics.dead_letter_topic(source_of(topic))


@app.command()
def show(
    ctx: typer.Context,
    topic: Topic,
    partition: Partition,
    offset: Offset,
    as_json: JsonOption = False,
) -> None:
    """One dead-letter record: every header and its value."""
    name = _dlq_name(topic)
    record = read(
        ctx, owner_of(name), f"{DEAD_LETTERS}/{name}/{partition}/{offset}", as_json=as_json
    )
    console.print(
        f"[bold]{record['coordinates']}[/]  from {record['source_topic']}"
        f"[{record['source_partition']}]@{record['source_offset']}"
    )
    console.print(table("headers", ["header", "value"], sorted(record["headers"].items())))
    value = record["value"]
    from rich.syntax import Syntax

    console.print(
        Syntax(json.dumps(value, indent=2), "json") if not isinstance(value, str) else value
    )
    if record["redriven"]:
        console.print(f"[yellow]redriven:[/] {record['redriven']}")


@app.command()
def redrive(
    ctx: typer.Context,
    topic: Topic,
    partition: Partition,
    offset: Offset,
    value_file: Annotated[
        Path | None,
        typer.Option(
            help="republish this corrected value (a JSON file) instead of the record as "
            "received: a valid event of the source topic keeping the record's event_id, "
            "event_type, order_id and key"
        ),
    ] = None,
    reason: Annotated[str, typer.Option(help="why, recorded with the redrive")] = "",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    as_json: JsonOption = False,
) -> None:
    """Republish a dead-letter record to its source topic (after confirmation), through the
    service that produces that topic, which records the redrive (naming the operator key's
    owner) on supplychain.operations.redrives.v1. A record already redriven (or its source
    record, dead-lettered by another consumer group), a value that would be dead-lettered
    again and a corrected value that is another event are refused."""
    name = _dlq_name(topic)
    owner = owner_of(name)
    value: Any = None
    if value_file is not None:
        try:
            value = json.loads(value_file.read_bytes())
        except (OSError, ValueError) as exc:
            fail(Exit.USAGE, f"--value-file {value_file}: not a readable JSON file ({exc})")
    where = f"{name}:{partition}:{offset}"
    if not yes:
        what = "a corrected value" if value is not None else "the record"
        if not typer.confirm(f"Republish {what} of {where} to {source_of(name)}?", err=True):
            fail(Exit.USAGE, "not redriven")
    with api_of(ctx, as_json=as_json) as api:
        event = api.post(
            owner,
            f"{DEAD_LETTERS}/{name}/{partition}/{offset}/redrive",
            {"value": value, "reason": reason},
        ).json()
    if as_json:
        emit_json(event)
        return
    console.print(
        f"redriven {where} -> {event['source_topic']} partition {event['redriven_partition']} "
        f"offset {event['redriven_offset']} by {event['redriven_by']}"
        + (" (corrected value)" if event["value_replaced"] else "")
    )
