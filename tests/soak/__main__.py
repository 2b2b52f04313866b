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

import asyncpg
import httpx
from supplychain_contracts.company import sample_company
from supplychain_devstack.processes import free_port, port_open
from supplychain_devstack.stack import Stack, StackConfig
from supplychain_devstack.supervisor import RestartPolicy, Supervisor
from supplychain_kit.lag import LagProbe

from soak import checks
from soak.faults import Faults
from soak.load import Load, plan, unlimit_company
from soak.report import report

SETTLE_QUIET_S = 6.0  # no new outbox row for this long (longest autopilot step: 2.5 s)


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


def stack_env(short: bool) -> dict[str, str]:
    """make run's settings (the short variant's workers twice as quick), plus: ASSEMBLY's
    worker accepts after 2.5 s and the rush policy of ASSEMBLY has a 0.5 s acceptance target,
    so every rush order of ASSEMBLY breaches a stage its supplier owes under a policy granting
    a credit: the credit check has work even when no fault delays anything."""
    policies = []
    for policy in sample_company().sla_policies:
        if policy.supplier == "ASSEMBLY" and policy.priority == "rush":
            targets = {**policy.targets_seconds}
            targets[next(s for s in targets if s.value == "acceptance")] = 0.5
            policy = policy.model_copy(update={"targets_seconds": targets})
        policies.append(policy.model_dump(mode="json", exclude_none=True))
    env = {
        "MONITORING_SLA_POLICIES_JSON": json.dumps(policies),
        "FULFILMENT_AUTOPILOT_DEPARTMENTS": json.dumps({"ASSEMBLY": {"accept_delay_s": 2.5}}),
        "FULFILMENT_AUTOPILOT_REJECT_PROBABILITY": os.environ.get(
            "FULFILMENT_AUTOPILOT_REJECT_PROBABILITY", "0.02"
        ),
        "LOG_LEVEL": "WARNING",
    }
    if short:
        env |= {
            "FULFILMENT_AUTOPILOT_ACCEPT_DELAY_S": "0.5",
            "FULFILMENT_AUTOPILOT_SHIP_DELAY_S": "1",
            "FULFILMENT_AUTOPILOT_RECEIPT_DELAY_S": "0.5",
        }
    return env


def free_block(size: int = 4) -> int:
    """A base port whose next `size` ports are free."""
    for _ in range(50):
        base = free_port()
        if base + size < 65000 and not any(port_open(base + i) for i in range(1, size + 1)):
            return base
    raise RuntimeError("no free block of ports")


async def groups_by_topic(stack: Stack) -> dict[str, list[str]]:
    """Which consumer groups read which topic, from each service's AsyncAPI document (its
    receive operations; a service's group is its name, CONSUMER_GROUP's default)."""
    groups: dict[str, list[str]] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for name, service in stack.services.items():
            doc = (await client.get(f"{service.url}/asyncapi.json")).raise_for_status().json()
            for operation in doc["operations"].values():
                if operation["action"] != "receive":
                    continue
                channel = doc["channels"][operation["channel"]["$ref"].rsplit("/", 1)[1]]
                groups.setdefault(channel["address"], []).append(name)
    return groups


async def settle(stack: Stack, groups: dict[str, list[str]], timeout: float) -> float:
    """Wait until the system is quiet: every outbox sent, every group caught up, and no new
    outbox row for SETTLE_QUIET_S. Returns the seconds it took."""
    began = time.monotonic()
    conn = await asyncpg.connect(stack.database_url)
    probe = LagProbe(stack.bootstrap_servers, client_id="soak-settle")
    await probe.start()
    last: tuple[int, ...] = ()
    quiet_since = time.monotonic()
    try:
        while True:
            counts = []
            pending = 0
            for schema in checks.SCHEMAS:
                row = await conn.fetchrow(
                    f"SELECT count(*) AS n, count(*) FILTER (WHERE published_at IS NULL) AS p "
                    f'FROM "{schema}".outbox'
                )
                counts.append(row["n"])
                pending += row["p"]
            lag = 0
            for topic, readers in groups.items():
                for group in readers:
                    lag += (await probe.group_lag(group, [topic])).records
            if tuple(counts) != last or pending or lag:
                last = tuple(counts)
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= SETTLE_QUIET_S:
                return time.monotonic() - began
            if time.monotonic() - began > timeout:
                raise RuntimeError(f"not quiet within {timeout:.0f}s: {pending} unsent, lag {lag}")
            await asyncio.sleep(0.5)
    finally:
        await probe.stop()
        await conn.close()


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
        outboxes = await checks.read_outboxes(stack.database_url)
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
        invoices = await checks.read_invoices(invoicing_url, departments, months_since(started))
        balance = await checks.read_trial_balance(invoicing_url, departments[0])
        statuses = await checks.read_statuses(intake.url, departments)
    accepted = load.accepted
    results = [
        checks.invoices_match_deliveries(outboxes, invoices),
        checks.credits_match_breaches(outboxes, invoices),
        checks.trial_balance_nets_to_zero(balance),
        checks.no_event_lost(outboxes, faults.epochs),
        checks.dead_letters_are_the_poison(faults.epochs, faults.poison, groups),
        checks.intake_saw_the_invoices(outboxes, statuses),
        checks.Check(
            "every order sent was accepted (retried with its key through the faults)",
            len(accepted) == len(placements),
            {
                "sent": len(placements),
                "accepted": len(accepted),
                "not accepted": [
                    f"{p.status} {p.problem[:120]}" for p in placements if not p.accepted
                ][:5],
                "sent more than once (same key)": sum(1 for p in placements if p.attempts > 1),
                "distinct orders": len({p.order_id for p in accepted}),
            },
        ),
    ]
    deaths = [n for n in notes if "; restarting in" in n or "giving up" in n]
    kills = sum(1 for n in deaths if "killed by signal SIGKILL" in n)
    unplanned = [n for n in deaths if "SIGKILL" not in n] + deaths[
        : max(0, kills - faults.planned_kills)
    ]
    return {
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
    parser.add_argument("--orders", type=int, help="default SOAK_ORDERS, else 10000 (short: 300)")
    parser.add_argument("--rate", type=float, help="orders/s; default SOAK_RATE, else 10")
    parser.add_argument(
        "--short", action="store_true", help="300 orders, one fault of each kind, quicker workers"
    )
    parser.add_argument("--out", type=Path, default=Path(".data/soak"))
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--pg-down", type=float, default=3.0, help="seconds PostgreSQL stays down")
    parser.add_argument("--settle-timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    if args.orders is None:
        args.orders = 300 if args.short else int(os.environ.get("SOAK_ORDERS", "10000"))
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
        http_port_base=free_block(),
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
