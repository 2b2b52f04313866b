"""`make soak`: a long fault run against the whole system as `make run` starts it.

Starts the embedded stack (supplychain_devstack: Tansu, PostgreSQL, the four services, the
fulfilment autopilot, the supervisor that restarts a dead service), places N orders at a
steady rate through the public API (soak.load) while it injects, spread over the run, poison
records, a service SIGKILLed (the supervisor restarts it), PostgreSQL restarted and the broker
restarted at a drain point (soak.faults). Once the system is quiet it proves (soak.checks)
that invoices = deliveries, credit notes = breaches owed, the trial balance nets to zero, no
outbox event was lost and the dead-letter topics hold exactly the poison, writes report.md
and results.json into --out and exits 1 when a check failed (2 when the run itself broke).

    PYTHONPATH=tests .venv/bin/python -m soak                 # 10,000 orders (SOAK_ORDERS)
    PYTHONPATH=tests .venv/bin/python -m soak --short --out .data/soak-short
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from supplychain_devstack.processes import free_port, free_port_block
from supplychain_devstack.stack import Stack, StackConfig
from supplychain_devstack.supervisor import RestartPolicy, Supervisor

from soak import checks, evidence
from soak.faults import Faults
from soak.load import Load, plan, unlimit_company
from soak.report import report
from soak.system import groups_by_topic, settle, stack_env


def fault_plan(short: bool) -> list[tuple[float, str, str]]:
    """(share of the orders sent, fault, target), in order."""
    if short:
        return [
            (0.15, "poison", ""),
            (0.30, "kill", "fulfilment"),
            (0.50, "broker", ""),
            (0.70, "postgres", ""),
        ]
    return [
        (0.10, "poison", ""),
        (0.20, "kill", "fulfilment"),
        (0.30, "broker", ""),
        (0.45, "poison", ""),
        (0.55, "postgres", ""),
        (0.65, "kill", "invoicing"),
        (0.75, "kill", "monitoring"),
        (0.85, "poison", ""),
    ]


async def supervise(supervisor: Supervisor, stop: asyncio.Event) -> None:
    while not stop.is_set():
        supervisor.check()
        await asyncio.sleep(0.2)


async def soak(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    intake = stack.services["order-intake"]
    notes: list[str] = []
    supervisor = Supervisor(
        stack.services,
        RestartPolicy(limit=5, window_s=60, backoff_s=0.5),
        report=lambda message: notes.append(
            f"{datetime.now(UTC):%H:%M:%S} {message.splitlines()[0]}"
        ),
    )
    started = datetime.now(UTC)
    stop = asyncio.Event()
    supervising = asyncio.create_task(supervise(supervisor, stop))
    async with httpx.AsyncClient(
        base_url=intake.url, timeout=30, limits=httpx.Limits(max_connections=64)
    ) as client:
        purchases = await unlimit_company(client)
        placements = plan(purchases, args.orders, args.seed)
        groups = await groups_by_topic(stack)
        load = Load(client, placements, args.rate)
        faults = Faults(stack, load, supervisor, groups)
        print(f"placing {args.orders} orders at {args.rate}/s", flush=True)

        async def inject() -> None:
            for share, kind, target in fault_plan(args.short):
                while load.sent < share * args.orders:
                    await asyncio.sleep(0.1)
                print(f"  {faults_label(kind, target)} at {load.sent} orders sent", flush=True)
                if kind == "poison":
                    fault = await faults.inject_poison()
                elif kind == "kill":
                    fault = await faults.kill_service(target)
                elif kind == "broker":
                    fault = await faults.restart_broker()
                else:
                    fault = await faults.restart_postgres(args.pg_down)
                faults.log.append(fault)
                print(f"    recovered in {fault.recovery_s:.1f}s {fault.detail}", flush=True)

        progress = asyncio.create_task(report_progress(load))
        await asyncio.gather(load.run(), inject())
        progress.cancel()
        placing_s = load.finished_at - load.started_at
        print(f"placed in {placing_s:.0f}s; waiting for the system to settle", flush=True)
        settle_s = await settle(stack, groups, timeout=args.settle_timeout)
        stop.set()
        await supervising
        outboxes = await evidence.read_outboxes(stack.database_url)
        tables = await evidence.table_sizes(stack.database_url)
        await faults.read_last_epoch()
        departments = sorted(
            d["code"]
            for d in (
                await client.get(
                    "/v1/admin/departments", headers={"Authorization": "Bearer dev-admin-1"}
                )
            ).json()
        )
        invoicing_url = stack.services["invoicing"].url
        invoices = await evidence.read_invoices(invoicing_url, departments, months_since(started))
        balance = await evidence.read_trial_balance(invoicing_url)
        statuses = await evidence.read_statuses(intake.url, departments)
        diagnosis = await evidence.intake_view(
            stack.database_url, checks.intake_behind(outboxes, statuses)
        )
    accepted = load.accepted
    results = [
        checks.invoices_match_deliveries(outboxes, invoices),
        checks.credits_match_breaches(outboxes, invoices),
        checks.trial_balance_nets_to_zero(balance),
        checks.no_event_lost(outboxes, faults.epochs, crashed(faults, outboxes)),
        checks.dead_letters_are_the_poison(faults.epochs, faults.poison, groups),
        checks.intake_saw_the_invoices(outboxes, statuses, diagnosis),
        checks.every_order_accepted(load.placements),
    ]
    deaths = [n for n in notes if "; restarting in" in n or "giving up" in n]
    sigkills = sum(1 for n in deaths if "killed by signal SIGKILL" in n)
    unplanned = [n for n in deaths if "SIGKILL" not in n]
    if sigkills > faults.planned_kills:
        unplanned.append(f"{sigkills - faults.planned_kills} SIGKILL(s) the run did not send")
    return {
        "tables": tables,
        "orders": args.orders,
        "rate_offered": args.rate,
        "placing_s": placing_s,
        "held_s": load.held_s,
        "rate_achieved": len(accepted) / placing_s if placing_s else 0.0,
        "settle_s": settle_s,
        "orders_total": len(outboxes.payloads.get("OrderPlaced", [])),
        "rush": sum(1 for p in placements if p.body.get("priority") == "rush"),
        "employee": sum(1 for p in placements if p.body.get("employee_id")),
        "requesters": len({p.body["requester"] for p in placements}),
        "suppliers": len({p.body["supplier"] for p in placements}),
        "latency_root": checks.placed_to_invoiced(
            outboxes, {p.order_id for p in accepted if p.order_id}
        ),
        "latency_all": checks.placed_to_invoiced(
            outboxes, {e["order_id"] for e in outboxes.payloads.get("OrderPlaced", [])}
        ),
        "faults": [asdict(f) for f in faults.log],
        "supervisor": notes,
        "unplanned_restarts": unplanned,
        "checks": [asdict(c) for c in results],
        "ok": all(c.ok for c in results),
    }


def crashed(faults: Any, outboxes: Any) -> set[str]:
    """The schemas whose relay may have published a batch and lost the commit that marks it
    sent: the services SIGKILLed, and every service once the database restarted."""
    return set(outboxes.rows) if faults.database_restarted else set(faults.killed_schemas)


def months_since(start: datetime) -> list[str]:
    """The periods (YYYY-MM) from `start` to now."""
    months, year, month = [], start.year, start.month
    end = datetime.now(UTC)
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def faults_label(kind: str, target: str) -> str:
    return {
        "poison": "poison records",
        "kill": f"SIGKILL {target}",
        "broker": "broker restart",
        "postgres": "PostgreSQL restart",
    }[kind]


async def report_progress(load: Load) -> None:
    while True:
        await asyncio.sleep(30)
        print(
            f"  {load.sent} sent, {len(load.accepted)} accepted, {load.in_flight} in flight",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, help="default SOAK_ORDERS, else 10000 (short: 200)")
    parser.add_argument("--rate", type=float, help="orders/s; default SOAK_RATE, else 10")
    parser.add_argument(
        "--short", action="store_true", help="200 orders, one fault of each kind, quicker workers"
    )
    parser.add_argument("--out", type=Path, default=Path(".data/soak"))
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--pg-down", type=float, default=3.0, help="seconds PostgreSQL stays down")
    parser.add_argument("--settle-timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    if args.orders is None:
        args.orders = 200 if args.short else int(os.environ.get("SOAK_ORDERS", "10000"))
    if args.rate is None:
        args.rate = float(os.environ.get("SOAK_RATE", "10"))
    began = time.monotonic()
    args.out = args.out.resolve()
    stack_dir = args.out / "stack"
    shutil.rmtree(stack_dir, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    config = StackConfig(
        data_dir=stack_dir,
        kafka_port=free_port(),
        postgres_port=free_port(),
        http_port_base=free_port_block(4),
        autopilot=True,
        fresh_database=True,
        extra_env=stack_env(args.short),
    )
    stack = Stack(config)
    started_at = datetime.now(UTC)
    print(f"starting the stack (data and logs in {stack_dir})", flush=True)
    data: dict[str, Any]
    try:
        stack.start()
        data = asyncio.run(soak(stack, args))
    except Exception:
        traceback.print_exc()
        (args.out / "report.md").write_text(
            f"# Soak run broke\n\n```\n{traceback.format_exc()}\n```\n", encoding="utf-8"
        )
        return 2
    finally:
        stack.stop()
    data["started_at"] = started_at.isoformat(timespec="seconds")
    data["wall_s"] = time.monotonic() - began
    data["short"] = args.short
    (args.out / "results.json").write_text(
        json.dumps(data, indent=2, default=str), encoding="utf-8"
    )
    text = report(data)
    (args.out / "report.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {args.out / 'report.md'}")
    return 0 if data["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
