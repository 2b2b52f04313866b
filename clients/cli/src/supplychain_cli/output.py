"""Exit codes and what a command prints: JSON for scripts (`--json`), rich for people."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import IntEnum
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
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
WideOption = Annotated[
    bool,
    typer.Option(
        "--wide",
        help="full ids and every column, however wide the table gets (default: ids cut to "
        "their first 8 characters and a table that fits 80 columns)",
    ),
]
SHORT_IDS_HINT = "ids cut to their first 8 characters: --wide or --json shows them in full"

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
    ids: Sequence[str] = (),
    times: Sequence[str] = (),
    extra: Sequence[str] = (),
    fill: Sequence[str] = (),
    nowrap: Sequence[str] = (),
    wide: bool = False,
) -> Table | Unbounded:
    """A table for people that fits an 80-column terminal: `ids` columns show a UUID's first
    8 characters (like git's short hashes), `times` columns (ISO timestamps) how long ago,
    and `extra` columns are left out, unless `wide` (--wide: full ids, timestamps, every
    column); `fill` columns (free text) fold and take what width is left; `nowrap` columns
    are never folded. A table with cut ids says so under it."""
    kept = [i for i, column in enumerate(columns) if wide or column not in extra]
    now = datetime.now(UTC)
    shortened = False
    shown = Table(
        title=title,
        title_justify="left",
        header_style="bold underline",
        caption_justify="left",
        box=None,  # no borders, two spaces between columns: the width goes to the cells
        pad_edge=False,
    )
    for i in kept:
        column = columns[i]
        shown.add_column(
            column,
            overflow="fold",
            no_wrap=column in nowrap or column in ids or column in times,
            ratio=1 if column in fill else None,
        )
    for row in rows:
        cells = []
        for i in kept:
            value = "" if row[i] is None else str(row[i])
            if columns[i] in ids and not wide and short(value) != value:
                value, shortened = short(value), True
            elif columns[i] in times:
                value = when(row[i]) if wide else ago(row[i], now)
            cells.append(value)
        shown.add_row(*cells)
    if shortened:
        shown.caption = SHORT_IDS_HINT
    return Unbounded(shown) if wide else shown


class Unbounded:
    """A table rendered as wide as its cells ask, the terminal wrapping what it must (--wide:
    a full id is never folded)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = Measurement.get(console, options.update_width(UNBOUNDED), self.table).maximum
        yield from console.render(self.table, options.update_width(width))


UNBOUNDED = 100_000


def ago(value: Any, now: datetime) -> str:
    """How long before `now` a timestamp was, as `ls` or kubectl tell an age: 42s ago,
    3m05s ago, 2h03m ago, 4d07h ago ("" for none)."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return "" if value is None else str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{seconds((now - moment).total_seconds())} ago"


def seconds(value: float) -> str:
    """A duration for people: 0.8s, 42s, 3m05s, 2h03m, 4d07h."""
    value = abs(value)
    if value < 10:
        return f"{value:.1f}s"
    whole = int(value)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def when(value: Any) -> str:
    """A timestamp for people: 2026-11-23 23:24:31 (UTC, as the services answer)."""
    try:
        return f"{datetime.fromisoformat(str(value)):%Y-%m-%d %H:%M:%S}"
    except ValueError:
        return "" if value is None else str(value)


def short(value: Any) -> str:
    """A UUID's first 8 hex characters, enough to tell orders apart on a screen (anything
    else as it is)."""
    try:
        return uuid.UUID(str(value)).hex[:8]
    except ValueError:
        return str(value)


def uuid_of(value: str, what: str) -> str:
    """The UUID `value` names, or a usage error (exit 1) saying `what` was expected; a short
    id copied from a table is told where the full one is."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        hint = ""
        if 0 < len(value) < 32 and all(c in "0123456789abcdef" for c in value.lower()):
            hint = ": a short id from a table? --wide (or --json) shows the full ids"
        fail(Exit.USAGE, f"{value!r} is not {what} (a UUID){hint}")
