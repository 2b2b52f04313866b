"""Exit codes and what a command prints: JSON for scripts (`--json`), rich for people."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
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

console = Console()
errors = Console(stderr=True)


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


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    shown = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        shown.add_column(column, overflow="fold")
    for row in rows:
        shown.add_row(*("" if value is None else str(value) for value in row))
    return shown


def short(order_id: Any) -> str:
    """The first block of a UUID: enough to tell orders apart on a screen."""
    return str(order_id).split("-")[0]
