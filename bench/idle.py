"""`make bench-idle`: what `make run` burns at its default demand (one order every 5 s).

Starts the stack as `make run` does (supplychain_devstack Stack, embedded Tansu and
PostgreSQL, autopilot with its default delays, the demand simulator at one order / 5 s) in a
fresh data dir on free ports, waits until it is ready and a first order is invoiced, then
samples the CPU seconds (user + system, children included: PostgreSQL's backends) of every
process of the stack over --seconds (default 60). Only then does it read the topics from the
beginning (so the reader adds nothing to the sample) for placed → invoiced of the orders placed
during the window: OrderPlaced's `occurred_at` to the InvoiceIssued record's timestamp (the
autopilot's default delays, ~4 s, included).

Prints cores per process and in total, and the latencies; --repeat N runs the sample N times
on the same stack and prints the medians (the machine is shared).

    python bench/idle.py [--seconds 60] [--repeat 3] [--env NAME=VALUE ...]
    python bench/idle.py --interval 0.2 --env FULFILMENT_AUTOPILOT_ACCEPT_DELAY_S=0 ...
        # an A/B of a setting's latency cost under load (5 orders/s, delays 0)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from supplychain_devstack.demand import DemandSimulator
from supplychain_devstack.processes import free_port
from supplychain_devstack.stack import Stack, StackConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from system_bench import CpuMeter, EventCollector, free_port_block, ms, pct

DEMAND_INTERVAL_S = 5.0  # make run's default (DEVSTACK_DEMAND_INTERVAL_S)


def make_run_stack(prefix: str, extra_env: dict[str, str]) -> tuple[Stack, Path]:
    """A stack as `make run` starts it (autopilot, one partition per topic) in a fresh data
    dir on free ports, with `extra_env` for its services; not started yet."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    config = StackConfig(
        data_dir=workdir,
        kafka_port=free_port(),
        postgres_port=free_port(),
        http_port_base=free_port_block(4),
        autopilot=True,
        fresh_database=True,
        partitions=1,  # as make run (StackConfig.from_environment)
        extra_env=extra_env,
    )
    return Stack(config), workdir


def watch_stack(stack: Stack) -> CpuMeter:
    cpu = CpuMeter()
    for name, service in stack.services.items():
        assert service.process is not None
        cpu.watch(name, service.process.pid)
    for name, part in (("PostgreSQL", stack.postgres), ("Tansu", stack.tansu)):
        if part is not None and part.process is not None:
            cpu.watch(name, part.process.pid)
    return cpu


# a leaf order's events in their order, each caused by the one before
CHAIN = (
    "OrderPlaced",
    "OrderAccepted",
    "WorkStarted",
    "OrderShipped",
    "OrderDelivered",
    "InvoiceIssued",
)


def hops(seen: dict[str, dict[str, tuple[float, float]]]) -> dict[str, list[float]]:
    """Where placed → invoiced goes, per order: each event's way from its `occurred_at` to
    its record on the broker (the producer's outbox relay), and from that record to the next
    event's `occurred_at` (the next service consuming it, the autopilot's delay included)."""
    found: dict[str, list[float]] = {}
    for events in seen.values():
        if not all(e in events for e in CHAIN):
            continue
        for before, after in itertools.pairwise(CHAIN):
            occurred, recorded = events[before]
            found.setdefault(f"{before} relayed", []).append(recorded - occurred)
            found.setdefault(f"→ {after}", []).append(events[after][0] - recorded)
    return found


async def placed_to_invoiced(
    bootstrap: str, since: float, until: float, into: dict[str, list[float]] | None = None
) -> list[float]:
    """Seconds from placed to invoiced of the orders placed in [since, until) (epoch s),
    once each is invoiced (or 30 s have passed); their hops added to `into`."""
    collector = EventCollector(bootstrap)
    await collector.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            placed = {
                order: events["OrderPlaced"][0]
                for order, events in collector.seen.items()
                if "OrderPlaced" in events and since <= events["OrderPlaced"][0] < until
            }
            if placed and all(collector.invoiced(order) for order in placed):
                break
            await asyncio.sleep(0.5)
        if into is not None:
            for hop, seconds in hops({o: collector.seen[o] for o in placed}).items():
                into.setdefault(hop, []).extend(seconds)
        return [
            collector.seen[order]["InvoiceIssued"][1] - at
            for order, at in placed.items()
            if collector.invoiced(order)
        ]
    finally:
        await collector.stop()


def first_order_invoiced(stack: Stack) -> None:
    """Ready: an order of the demand went the whole way (every consumer has joined)."""

    async def wait() -> None:
        collector = EventCollector(stack.bootstrap_servers)
        await collector.start()
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if any(collector.invoiced(order) for order in collector.seen):
                    return
                await asyncio.sleep(0.5)
        finally:
            await collector.stop()

    asyncio.run(wait())


def sample(
    stack: Stack, cpu: CpuMeter, seconds: float, hops: dict[str, list[float]]
) -> tuple[dict[str, float], list[float]]:
    before, since = cpu.snapshot(), time.time()
    time.sleep(seconds)
    cores = {n: s / seconds for n, s in CpuMeter.delta(cpu.snapshot(), before).items()}
    until = time.time()
    latencies = asyncio.run(placed_to_invoiced(stack.bootstrap_servers, since, until, hops))
    return cores, latencies


Run = tuple[dict[str, float], list[float]]


def quiet(stack: Stack, still_s: float = 10.0, timeout_s: float = 120.0) -> None:
    """Wait until no new record reached the topics for `still_s` (the demand's last chains
    ended, the autopilot's delays included)."""

    async def wait() -> None:
        collector = EventCollector(stack.bootstrap_servers)
        await collector.start()
        try:
            deadline = time.monotonic() + timeout_s
            count, since = -1, time.monotonic()
            while time.monotonic() < deadline:
                now = sum(len(events) for events in collector.seen.values())
                if now != count:
                    count, since = now, time.monotonic()
                elif time.monotonic() - since >= still_s:
                    return
                await asyncio.sleep(0.5)
        finally:
            await collector.stop()

    asyncio.run(wait())


def summary(
    runs: list[Run],
    legs: dict[str, list[float]],
    args: argparse.Namespace,
    floor: dict[str, float] | None = None,
) -> list[str]:
    """The run as markdown: cores per process (medians over the runs) with the floor of the
    same stack without demand beside them, placed → invoiced, and where it went hop by hop."""
    settings = ", ".join(args.env) or "make run's defaults"
    lines = [
        f"`make bench-idle`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: the stack as "
        f"`make run` starts it, an order every {args.interval:g} s, {settings}; CPU (user + "
        f"system, PostgreSQL's backends included) over {args.seconds:g} s, median of "
        f"{len(runs)} run(s), on a machine of {os.cpu_count()} cores.",
        "",
        "| process | cores at the default demand | cores without demand (the floor) |",
        "|---|---|---|",
    ]
    floor = floor or {}
    totals = figures(runs, floor, args)
    names = list(runs[0][0]) if runs else []
    for name in names:
        lines.append(
            f"| {name} | {statistics.median(r[0].get(name, 0.0) for r in runs):.3f} | "
            f"{floor.get(name, 0.0):.3f} |"
        )
    total = totals["cores"] or 0.0
    lines += [f"| **total** | **{total:.3f}** | **{sum(floor.values()):.3f}** |", ""]
    if floor:
        orders = totals["orders"]
        work = total - totals["cores_without_demand"]
        lines += [
            f"Of the {total:.3f} cores, {totals['cores_without_demand']:.3f} are the floor (consumers "
            "waiting at the broker, heartbeats, the relays' and the SLA scan's sweeps, metrics) "
            f"and {work:.3f} the demand's orders: {orders:g} placed per {args.seconds:g} s "
            "(chains' sub-orders included), "
            + (
                f"{1000 * work * args.seconds / orders:.0f} ms of CPU per order at this rate"
                if orders
                else "no order placed"
            )
            + ". A whole stack at ≤ 0.10 core needs the floor and the work together below it.",
            "",
        ]
    p50s = [p for r in runs if (p := pct(r[1], 50)) is not None]
    p99s = [p for r in runs if (p := pct(r[1], 99)) is not None]
    if p50s:
        lines += [
            f"Placed → invoiced of the {sum(len(r[1]) for r in runs)} orders placed meanwhile "
            f"(chains included; the autopilot's simulated delays dominate): p50 "
            f"{ms(statistics.median(p50s))} ms, p99 {ms(statistics.median(p99s))} ms.",
            "",
        ]
    if legs:
        lines += [
            "Its leaf orders hop by hop (ms): an event's way to the broker (its producer's "
            "outbox relay), then to the next event (the next service consuming it, or the "
            "autopilot's delay):",
            "",
            "| hop | p50 | p99 |",
            "|---|---|---|",
            *(f"| {hop} | {ms(pct(v, 50))} | {ms(pct(v, 99))} |" for hop, v in legs.items()),
            "",
        ]
    return lines


def figures(runs: list[Run], floor: dict[str, float], args: argparse.Namespace) -> dict[str, Any]:
    """The run's totals: cores at the default demand and without it, placed → invoiced."""
    p99s = [p for r in runs if (p := pct(r[1], 99)) is not None]
    return {
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": args.seconds,
        "interval_s": args.interval,
        "settings": args.env,
        "cores": statistics.median(sum(r[0].values()) for r in runs) if runs else None,
        "cores_without_demand": sum(floor.values()) if floor else None,
        "orders": statistics.median(len(r[1]) for r in runs) if runs else 0,
        "placed_to_invoiced_p99_s": statistics.median(p99s) if p99s else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--interval", type=float, default=DEMAND_INTERVAL_S, help="seconds between orders"
    )
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--report", type=Path, help="also write the summary (markdown) there")
    args = parser.parse_args(argv)
    stack, workdir = make_run_stack("idle-bench-", dict(item.split("=", 1) for item in args.env))
    demand: DemandSimulator | None = None
    print(f"starting the stack (data in {workdir}) ...", flush=True)
    try:
        stack.start()
        demand = DemandSimulator(
            stack.services["order-intake"].url, interval_s=args.interval, seed=24
        )
        demand.start()
        first_order_invoiced(stack)
        cpu = watch_stack(stack)
        runs = []
        legs: dict[str, list[float]] = {}
        for run in range(args.repeat):
            cores, latencies = sample(stack, cpu, args.seconds, legs)
            runs.append((cores, latencies))
            print(
                f"run {run + 1}: {sum(cores.values()):.3f} cores, {len(latencies)} orders, "
                f"placed→invoiced p50 {ms(pct(latencies, 50))} p99 {ms(pct(latencies, 99))} ms",
                flush=True,
            )
        # the floor: the same stack with no demand once its last orders ended (polling,
        # heartbeats, housekeeping: what no order costs)
        demand.stop()
        demand = None
        quiet(stack)
        floor, _ = sample(stack, cpu, args.seconds, {})
        print(f"no demand: {sum(floor.values()):.3f} cores", flush=True)
    finally:
        if demand is not None:
            demand.stop()
        stack.stop()
    text = "\n".join(summary(runs, legs, args, floor))
    print("\n" + text)
    if args.report is not None:
        args.report.write_text(text + "\n", encoding="utf-8")
        # the figures `make bench`'s table of targets quotes
        args.report.with_suffix(".json").write_text(
            json.dumps(figures(runs, floor, args), indent=2) + "\n", encoding="utf-8"
        )
        print(f"written to {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
