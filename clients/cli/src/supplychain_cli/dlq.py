"""`supplychain dlq ...`: list, show and redrive dead-letter records (operators)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from supplychain_cli.context import config_of
from supplychain_cli.output import Exit, JsonOption, console, emit_json, fail, table

# The broker side is imported when a dlq command runs: aiokafka and the contracts take a
# while to import, and every other command starts faster without them.
if TYPE_CHECKING:
    from supplychain_cli import dead_letters as dl

app = typer.Typer(
    help="Dead letters: records a consumer gave up on, with the error; redrive them to their "
    "source topic once the cause is fixed. Reads KAFKA_BOOTSTRAP_SERVERS.",
    no_args_is_help=True,
)


def _broker(coroutine: Any, bootstrap: str) -> Any:
    from aiokafka.errors import KafkaError

    try:
        return asyncio.run(coroutine)
    except (KafkaError, OSError, TimeoutError) as exc:
        fail(Exit.UNREACHABLE, f"the broker at {bootstrap} is unreachable: {exc!r}")


@app.command("list")
def list_dead_letters(
    ctx: typer.Context,
    topic: Annotated[
        str | None,
        typer.Option(help="only the dead letters of this topic (source or .dlq name)"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Dead-letter records: coordinates, source record, consumer group, error, redrive."""
    bootstrap = config_of(ctx).kafka
    from supplychain_cli import dead_letters as dl

    async def read() -> tuple[list[dl.Record], dict[str, Any]]:
        return await dl.dead_letters(bootstrap, topic), await dl.redrives(bootstrap)

    records, done = _broker(read(), bootstrap)
    if as_json:
        emit_json([r.as_json(dl.earlier_redrive(r, done)) for r in records])
        return
    rows = []
    for r in records:
        earlier = dl.earlier_redrive(r, done)
        rows.append(
            (
                r.topic,
                r.partition,
                r.offset,
                f"{r.source_partition}@{r.source_offset}",
                r.headers.get("dlq_consumer_group"),
                r.headers.get("dlq_error_type"),
                dl.error_summary(r.headers.get("dlq_error") or ""),
                ""
                if earlier is None
                else f"{earlier.occurred_at:%Y-%m-%d %H:%M} {earlier.redriven_by}",
            )
        )
    console.print(
        table(
            f"dead letters ({len(records)})",
            [
                "dlq topic",
                "p",
                "offset",
                "source",
                "group",
                "error type",
                "error",
                "redriven",
            ],
            rows,
            nowrap=("dlq topic", "error type"),
            wide=("error",),
        )
    )


def _find(
    bootstrap: str, topic: str, partition: int, offset: int
) -> tuple[dl.Record, dict[str, Any]]:
    from supplychain_cli import dead_letters as dl

    async def read() -> tuple[dl.Record | None, dict[str, Any]]:
        return await dl.dead_letter(bootstrap, topic, partition, offset), await dl.redrives(
            bootstrap
        )

    record, done = _broker(read(), bootstrap)
    if record is None:
        fail(Exit.REFUSED, f"no record at {topic} partition {partition} offset {offset}")
    return record, done


Topic = Annotated[
    str, typer.Argument(help="the dead-letter topic (e.g. supplychain.orders.v1.dlq)")
]
Partition = Annotated[int, typer.Argument(min=0, help="its partition")]
Offset = Annotated[int, typer.Argument(min=0, help="its offset")]


@app.command()
def show(
    ctx: typer.Context,
    topic: Topic,
    partition: Partition,
    offset: Offset,
    as_json: JsonOption = False,
) -> None:
    """One dead-letter record: every header and its value."""
    from supplychain_cli import dead_letters as dl

    bootstrap = config_of(ctx).kafka
    record, done = _find(bootstrap, dl.dead_letter_topics(topic)[0], partition, offset)
    document = record.as_json(dl.earlier_redrive(record, done))
    if as_json:
        emit_json(document)
        return
    console.print(f"[bold]{record.coordinates}[/]  from {record.source}")
    console.print(table("headers", ["header", "value"], sorted(record.headers.items())))
    value = document["value"]
    from rich.syntax import Syntax

    console.print(
        Syntax(json.dumps(value, indent=2), "json") if not isinstance(value, str) else value
    )
    if document["redriven"]:
        console.print(f"[yellow]redriven:[/] {document['redriven']}")


@app.command()
def redrive(
    ctx: typer.Context,
    topic: Topic,
    partition: Partition,
    offset: Offset,
    value_file: Annotated[
        Path | None,
        typer.Option(
            help="republish this corrected value (a JSON file) instead of the record as received"
        ),
    ] = None,
    reason: Annotated[str, typer.Option(help="why, recorded with the redrive")] = "",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    force: Annotated[
        bool,
        typer.Option(help="redrive even if it was redriven before or would be dead-lettered again"),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Republish a dead-letter record to its source topic (after confirmation) and record
    the redrive on supplychain.operations.redrives.v1. A record already redriven (or its
    source record, dead-lettered by another consumer group) is refused unless --force."""
    from supplychain_cli import dead_letters as dl

    bootstrap = config_of(ctx).kafka
    value: bytes | None = None
    if value_file is not None:
        try:
            value = value_file.read_bytes()
            json.loads(value)
        except (OSError, ValueError) as exc:
            fail(Exit.USAGE, f"--value-file {value_file}: not a readable JSON file ({exc})")
    record, done = _find(bootstrap, dl.dead_letter_topics(topic)[0], partition, offset)
    earlier = dl.earlier_redrive(record, done)
    if earlier is not None and not force:
        fail(
            Exit.REFUSED,
            f"{record.coordinates} (source {record.source}) was already redriven "
            f"{earlier.occurred_at:%Y-%m-%d %H:%M:%S} UTC by {earlier.redriven_by} from "
            f"{earlier.dead_letter_key} to {earlier.source_topic} partition "
            f"{earlier.redriven_partition} offset {earlier.redriven_offset}; --force redrives it again",
            data={"refused": "already redriven", "earlier": json.loads(earlier.model_dump_json())},
            as_json=as_json,
        )
    problem = dl.event_problem(record.value if value is None else value, record.source_topic)
    if problem and not force:
        what = "the corrected value" if value is not None else "the record as received"
        fail(
            Exit.REFUSED,
            f"{what} is no valid event of {record.source_topic} and would be dead-lettered "
            f"again: {problem} (correct it with --value-file, or --force)",
            data={"refused": "invalid event", "problem": problem},
            as_json=as_json,
        )
    if not yes:
        what = "a corrected value" if value is not None else "the record"
        if not typer.confirm(
            f"Republish {what} of {record.coordinates} to {record.source_topic}?", err=True
        ):
            fail(Exit.USAGE, "not redriven")
    event = _broker(dl.redrive(bootstrap, record, value=value, reason=reason), bootstrap)
    if as_json:
        emit_json(json.loads(event.model_dump_json()))
        return
    console.print(
        f"redriven {record.coordinates} -> {event.source_topic} partition "
        f"{event.redriven_partition} offset {event.redriven_offset}"
        + (" (corrected value)" if event.value_replaced else "")
    )
