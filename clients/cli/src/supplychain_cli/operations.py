"""Operator tools: simulated demand, SLA replay, company file validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from supplychain_cli.context import config_of
from supplychain_cli.output import Exit, JsonOption, console, emit_json, fail, table

company_app = typer.Typer(help="The company file (COMPANY_FILE).", no_args_is_help=True)


def simulate(
    ctx: typer.Context,
    rate: Annotated[float, typer.Option(min=0.01, max=1000, help="orders per second")] = 2.0,
    duration: Annotated[float, typer.Option(min=0.1, help="seconds to run")] = 10.0,
    seed: Annotated[int | None, typer.Option(help="random seed (repeatable demand)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Place plausible orders for the running company at a steady rate, as `make run`'s
    simulated demand does (its development keys: local and test only)."""
    from supplychain_devstack.demand import DemandSimulator  # imported when it runs: slow

    intake = config_of(ctx).intake
    simulator = DemandSimulator(intake, interval_s=1 / rate, seed=seed)
    answers: Counter[int] = Counter()
    unreachable = 0
    started = time.monotonic()
    total = max(1, round(rate * duration))
    with (
        httpx.Client(timeout=10) as client,
        Progress(
            TextColumn("placing orders"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            disable=as_json,
        ) as progress,
    ):
        task = progress.add_task("orders", total=total)
        for n in range(total):
            # open loop: each order at its own time, however long the previous one took
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                answers[simulator.place_one(client)] += 1
            except httpx.HTTPError:
                unreachable += 1
            progress.advance(task)
    elapsed = time.monotonic() - started
    if unreachable == total:
        fail(Exit.UNREACHABLE, f"order intake at {intake} is unreachable")
    by_status = {str(status): n for status, n in sorted(answers.items())}
    summary = {
        "placed": simulator.placed,
        "refused": simulator.refused,
        "unreachable": unreachable,
        "by_status": by_status,
        "seconds": round(elapsed, 2),
        "achieved_rate": round(total / elapsed, 2) if elapsed else None,
    }
    if as_json:
        emit_json(summary)
        return
    console.print(
        table(
            "simulated demand",
            ["placed", "refused", "unreachable", "answers", "seconds", "orders/s"],
            [
                (
                    summary["placed"],
                    summary["refused"],
                    unreachable,
                    ", ".join(f"{s}: {n}" for s, n in by_status.items()),
                    summary["seconds"],
                    summary["achieved_rate"],
                )
            ],
        )
    )


def replay(
    ctx: typer.Context,
    timeout: Annotated[
        float, typer.Option(min=1, help="seconds to reach the end of the topics")
    ] = 300,
    as_json: JsonOption = False,
) -> None:
    """SLA repair: monitoring rebuilds timelines and SLA results from the topics into a
    fresh schema and compares them with the live ones (python -m monitoring.replay, with
    DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS). Exit 4 when they differ."""
    config = config_of(ctx)
    env = {
        # the replay builds monitoring's settings: like the CLI's other defaults, those of
        # `make run` (a local environment) unless the caller says otherwise
        "SUPPLYCHAIN_ENVIRONMENT": "local",
        **os.environ,
        "DATABASE_URL": config.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": config.kafka,
    }
    command = [sys.executable, "-m", "monitoring.replay", "--timeout", str(timeout)]
    with Progress(
        SpinnerColumn(),
        TextColumn("replaying the topics into a fresh schema and comparing"),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
    ) as progress:
        progress.add_task("replay", total=None)
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        except OSError as exc:
            fail(Exit.USAGE, f"cannot run {' '.join(command)}: {exc}")
    try:
        report = json.loads(done.stdout)
    except ValueError:
        message = (done.stderr or done.stdout).strip().splitlines()[-5:]
        if "No module named monitoring" in done.stderr:
            fail(Exit.USAGE, "replay needs the monitoring package installed beside the CLI")
        fail(Exit.UNREACHABLE, "replay failed: " + " | ".join(message))
    if as_json:
        emit_json(report)
    else:
        console.print(
            table(
                "replay",
                ["records read", "events replayed", "skipped", "stages compared", "differences"],
                [
                    (
                        report["records_read"],
                        report["events_replayed"],
                        report["records_skipped"],
                        report["stages_compared"],
                        len(report["differences"]),
                    )
                ],
            )
        )
        for difference in report["differences"][:20]:
            console.print(f"  [yellow]differs:[/] {difference}")
    if report["differences"]:
        raise typer.Exit(int(Exit.ENDED_BADLY))


@company_app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="the company file (JSON or YAML)")],
    as_json: JsonOption = False,
) -> None:
    """Check a company file as `make run` and the services would load it: every problem
    located by its path in the file, a key it does not know included (with the closest known
    one). Exit 1 when it is refused; when valid, what each SLA policy credits on a breach."""
    from supplychain_contracts.company_file import (
        CompanyFileError,
        load_company_file,
        policy_credits,
    )

    try:
        company = load_company_file(file)
    except CompanyFileError as exc:
        problems = [str(problem) for problem in exc.problems]
        if as_json:
            emit_json({"file": str(file), "valid": False, "problems": problems})
        else:
            for problem in problems:
                console.print(f"{file}: [red]{problem}[/]", highlight=False)
        raise typer.Exit(int(Exit.USAGE)) from None
    counts = {
        "legal_entities": len(company.legal_entities),
        "departments": len(company.departments),
        "catalogue": len(company.catalogue),
        "employees": len(company.employees),
        "sla_policies": len(company.sla_policies),
    }
    credits = policy_credits(company)
    if as_json:
        emit_json(
            {
                "file": str(file),
                "valid": True,
                "name": company.name,
                "counts": counts,
                "credits": [
                    {
                        "policy": credit.path,
                        "policy_id": credit.policy_id,
                        "service_credit_pct": str(credit.service_credit_pct),
                    }
                    for credit in credits
                ],
            }
        )
        return
    console.print(
        f"{file}: [green]valid[/] company {company.name!r}: "
        + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items())
    )
    for credit in credits:
        console.print(f"  {credit}", highlight=False)
