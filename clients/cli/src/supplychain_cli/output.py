"""Exit codes and what a command prints: JSON for scripts (`--json`), rich for people."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import IntEnum
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table


class Exit(IntEnum):
    """What the exit status of a `supplychain` command means (see `supplychain --help`)."""

    OK = 0
    USAGE = 1  # bad arguments or input file, no API key
    REFUSED = 2  # the API (4xx) or the tool refused: the problem's title, detail and field
    UNREACHABLE = 3  # a service or the broker could not be reached
    ENDED_BADLY = 4  # a watched chain ended rejected, cancelled or blocked
    TIMEOUT = 5  # a watch or wait ran out of time


EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 usage error (bad arguments, no API key); 2 refused by the API or "
    "the tool (4xx: the problem's title, detail and field are printed); 3 a service or the "
    "broker is unreachable; 4 a watched chain ended rejected, cancelled or blocked; "
    "5 timeout."
)

JsonOption = Annotated[
    bool, typer.Option("--json", help="print machine-readable JSON instead of tables")
]

console = Console(soft_wrap=True)  # long lines are the terminal's to wrap, not cut
errors = Console(stderr=True, soft_wrap=True)


def emit_json(data: Any) -> None:
    """One JSON document on stdout (no colour, no wrapping)."""
    typer.echo(json.dumps(data, indent=2, default=str))


def fail(
    code: Exit, message: str, *, data: dict[str, Any] | None = None, as_json: bool = False
) -> NoReturn:
    """Stop the command with `code`: the message on stderr (and `data` as JSON on stdout)."""
    if as_json and data is not None:
        emit_json(data)
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(int(code))


def table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    nowrap: Sequence[str] = (),
    wide: Sequence[str] = (),
) -> Table:
    """A table for people; `nowrap` columns are never folded (ids a reader copies), `wide`
    ones take what width is left."""
    shown = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        shown.add_column(
            column, overflow="fold", no_wrap=column in nowrap, ratio=1 if column in wide else None
        )
    for row in rows:
        shown.add_row(*("" if value is None else str(value) for value in row))
    return shown


def when(value: Any) -> str:
    """A timestamp for people: 2026-11-23 23:24:31 (UTC, as the services answer)."""
    try:
        return f"{datetime.fromisoformat(str(value)):%Y-%m-%d %H:%M:%S}"
    except ValueError:
        return "" if value is None else str(value)


def short(order_id: Any) -> str:
    """The first block of a UUID: enough to tell orders apart on a screen."""
    return str(order_id).split("-")[0]
