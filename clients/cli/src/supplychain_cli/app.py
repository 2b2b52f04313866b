"""The `supplychain` command: one typer app, a command module per area."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from supplychain_cli import (
    consumer,
    demo,
    disputes,
    dlq,
    money,
    operations,
    orders,
    outbox,
    periods,
    work,
)
from supplychain_cli.config import Config
from supplychain_cli.output import EXIT_CODES_HELP, Exit, errors

app = typer.Typer(
    name="supplychain",
    help="The internal supply chain from the command line: place and watch orders, work a "
    "supplier's queue, read invoices and statements, dispute a charge, close a month, inspect "
    "and redrive dead letters, release parked outbox rows, list the records a consumer parked."
    "\n\n"
    "Environment: SUPPLYCHAIN_API_KEY (a department, finance or admin key; an operator key for "
    "dlq, outbox and consumer; make run accepts dev-<department>-1, dev-finance-1, dev-operator-1), "
    "SUPPLYCHAIN_URL_INTAKE|FULFILMENT|INVOICING|MONITORING (default "
    "http://127.0.0.1:8001..8004, as make run prints), KAFKA_BOOTSTRAP_SERVERS and "
    "DATABASE_URL (replay; default 127.0.0.1:9092).\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="SUPPLYCHAIN_API_KEY",
            help="a department, finance, operator or admin key (default: $SUPPLYCHAIN_API_KEY)",
            show_default=False,
        ),
    ] = None,
) -> None:
    config = Config.from_environment()
    ctx.obj = Config(**{**config.__dict__, "api_key": api_key or config.api_key})


app.add_typer(orders.app, name="orders")
app.command("queue")(work.queue)
app.add_typer(work.work_app, name="work")
app.command("receipt")(work.receipt)
app.command("feedback")(work.feedback)
app.command("help")(work.help_request)
app.command("help-awaiting-requester")(work.help_awaiting_requester)
app.command("help-answer")(work.help_answer)
app.command("help-requests")(work.help_requests)
app.add_typer(money.invoices_app, name="invoices")
app.add_typer(disputes.app, name="disputes")
app.add_typer(periods.app, name="periods")
app.command("statement")(money.statement)
app.command("trial-balance")(money.trial_balance)
app.command("scorecard")(money.scorecard)
app.add_typer(dlq.app, name="dlq")
app.add_typer(outbox.app, name="outbox")
app.add_typer(consumer.app, name="consumer")
app.command("simulate")(operations.simulate)
app.command("replay")(operations.replay)
app.add_typer(operations.company_app, name="company")
app.command("demo")(demo.demo)


def main() -> None:
    """Console script: usage errors exit 1 (the parser's own 2 means "refused" here)."""
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="supplychain", standalone_mode=False)
    except typer.Abort:
        errors.print("aborted")
        sys.exit(int(Exit.USAGE))
    except typer.TyperException as exc:  # a usage error: unknown option, missing argument
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            errors.print(f"error: {exc}")
        sys.exit(int(Exit.USAGE))
    sys.exit(code if isinstance(code, int) else int(Exit.OK))
