"""`make bench-retention`: the inbox and outbox tables stay bounded at a steady rate.

Starts the stack as `make run` does (embedded Tansu and PostgreSQL, autopilot with its default
delays) in a fresh data dir, raises every department's budget so that no order is refused for
money, and places an order every --interval seconds (default 0.2: 5 orders/s) for --minutes
(default 85) with the inbox kept INBOX_RETENTION_HOURS (default here 1, the least the setting
allows) and published outbox rows OUTBOX_RETENTION_S (default here 600). Every minute it
records each service's inbox and outbox rows and size (indexes included).

The inbox is purged every 10 minutes of the rows older than its retention, so its rows grow
for the retention's first hour, then saw between that hour's rows and ten minutes more; the
outbox keeps its last ten minutes. Writes bench/retention.md, .json and .png.

    python bench/retention.py [--minutes 85] [--interval 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from supplychain_devstack.demand import DemandSimulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from idle import make_run_stack
from soak.evidence import SCHEMAS, table_sizes
from system_bench import raise_budget

HERE = Path(__file__).resolve().parent
TABLES = tuple(f"{schema}.{table}" for schema in SCHEMAS for table in ("inbox", "outbox"))

Sample = dict[str, Any]  # minute, orders placed, and rows/bytes per table


async def sizes(database_url: str) -> dict[str, tuple[int, int]]:
    """Rows and bytes (indexes included) of each service's inbox and outbox, read as the
    soak reads them at its end."""
    return {
        name: (size["rows"], size["bytes"])
        for name, size in (await table_sizes(database_url)).items()
    }


async def raise_every_budget(intake_url: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        await raise_budget(client, intake_url, None)


def steady(samples: list[Sample], table: str, after_min: float) -> tuple[int, int]:
    """The fewest and most rows of the table among the samples after `after_min` minutes."""
    rows = [s["tables"][table][0] for s in samples if s["minute"] >= after_min]
    return (min(rows), max(rows)) if rows else (0, 0)


def report(samples: list[Sample], args: argparse.Namespace, retention_h: float) -> list[str]:
    last = samples[-1] if samples else None
    minutes = last["minute"] if last else 0
    rate = last["placed"] / (60 * minutes) if last and minutes else 0.0
    lines = [
        f"`make bench-retention`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: the "
        f"stack as `make run` starts it, an order every {args.interval:g} s for {minutes:g} "
        f"min ({rate:.1f} orders/s placed, chains' sub-orders not counted), inbox retention "
        f"{retention_h:g} h (purged every 10 min), published outbox rows kept "
        f"{args.outbox_retention_s:g} s; on a machine of {os.cpu_count()} cores.",
        "",
        "![inbox and outbox rows over the run](retention.png)",
        "",
        "| minute | orders placed | " + " | ".join(TABLES) + " |",
        "|---|---|" + "---|" * len(TABLES),
    ]
    for sample in samples:
        if sample["minute"] % 5 and sample is not last:
            continue
        cells = " | ".join(f"{sample['tables'][t][0]:,}" for t in TABLES)
        lines.append(f"| {sample['minute']:g} | {sample['placed']:,} | {cells} |")
    lines += ["", "Rows and size at the end, and the range of rows once the retention applies:", ""]
    lines += [
        "| table | rows at the end | MB at the end | rows after the retention (least to most) |"
    ]
    lines += ["|---|---|---|---|"]
    for table in TABLES:
        kept_min = retention_h * 60 + 10 if table.endswith("inbox") else 15.0
        low, high = steady(samples, table, kept_min)
        rows, size = last["tables"][table] if last else (0, 0)
        span = f"{low:,} to {high:,} (from minute {kept_min:g})" if minutes >= kept_min else "—"
        lines.append(f"| {table} | {rows:,} | {size / 1e6:.1f} | {span} |")
    lines.append("")
    return lines


def plot(samples: list[Sample], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    minutes = [s["minute"] for s in samples]
    for table in TABLES:
        ax.plot(minutes, [s["tables"][table][0] for s in samples], label=table)
    ax.set_xlabel("minutes")
    ax.set_ylabel("rows")
    ax.set_title("inbox and outbox rows at a steady rate")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=85.0)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between orders")
    parser.add_argument("--inbox-retention-hours", type=float, default=1.0)
    parser.add_argument("--outbox-retention-s", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    stack, workdir = make_run_stack(
        "retention-bench-",
        {
            "INBOX_RETENTION_HOURS": str(args.inbox_retention_hours),
            "OUTBOX_RETENTION_S": str(args.outbox_retention_s),
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_PER_SECOND": "0",
        },
    )
    demand: DemandSimulator | None = None
    samples: list[Sample] = []
    print(f"starting the stack (data in {workdir}) ...", flush=True)
    try:
        stack.start()
        intake = stack.services["order-intake"].url
        asyncio.run(raise_every_budget(intake))
        demand = DemandSimulator(intake, interval_s=args.interval, seed=31)
        demand.start()
        began = time.monotonic()
        minute = 0
        while minute < args.minutes:
            minute += 1
            time.sleep(max(0.0, began + 60 * minute - time.monotonic()))
            found = asyncio.run(sizes(stack.database_url))
            samples.append({"minute": minute, "placed": demand.placed, "tables": found})
            print(
                f"minute {minute}: {demand.placed} placed ({demand.refused} refused); "
                + ", ".join(f"{t} {found[t][0]}" for t in TABLES),
                flush=True,
            )
    finally:
        if demand is not None:
            demand.stop()
        stack.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    text = "\n".join(report(samples, args, args.inbox_retention_hours))
    (args.out / "retention.md").write_text(text + "\n", encoding="utf-8")
    (args.out / "retention.json").write_text(json.dumps(samples, indent=1) + "\n", "utf-8")
    plot(samples, args.out / "retention.png")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
