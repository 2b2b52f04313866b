"""The soak's report: what was run, the faults with their recovery, latency, each check."""

from __future__ import annotations

import json
from typing import Any

from supplychain_kit.settings import ServiceSettings

# the rates the projection is made for: make run's demand, the bench's target
PROJECTED_RATES = (5, 150)


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def report(data: dict[str, Any]) -> str:
    verdict = "all checks held" if data["ok"] else "CHECKS FAILED"
    root, every = data["latency_root"], data["latency_all"]
    lines = [
        f"# Long fault run (make soak){' — short variant' if data['short'] else ''}: {verdict}",
        "",
        f"Started {data['started_at']} UTC, {data['wall_s'] / 60:.1f} min wall on this machine "
        "(stack start, load, faults, settling, checks).",
        "",
        "Settings: `make run`'s (the fulfilment autopilot, 2 % of orders turned down, their "
        "chains blocked)"
        + (", the workers twice as quick" if data["short"] else "")
        + "; ASSEMBLY's worker accepts after 2.5 s and ASSEMBLY's rush policy has a 0.5 s "
        "acceptance target, so every rush order of ASSEMBLY owes a credit.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| orders placed through the API | {data['orders']:,} "
        f"({data['rush']:,} rush, {data['employee']:,} employee purchases, "
        f"{data['requesters']} requesting and {data['suppliers']} supplying departments) |",
        f"| orders in all, with the sub-orders of the chains | {data['orders_total']:,} |",
        f"| rate offered / achieved | {data['rate_offered']:g} / {data['rate_achieved']:.2f} "
        f"orders/s over {data['placing_s']:.0f} s (held {data['held_s']:.1f} s at the "
        "broker's drain point) |",
        f"| settled after the last order | {data['settle_s']:.0f} s |",
        f"| placed → invoiced, orders placed by the run (p50 / p99 / max) | "
        f"{seconds(root['p50'])} / {seconds(root['p99'])} / {seconds(root['max'])} "
        f"({root['count']:,} invoiced) |",
        "| the same by fifth of the run, p50 / p99 (kept up: the last no slower than the "
        "first) | " + ", ".join(f"{seconds(a)} / {seconds(b)}" for a, b in root["by_fifth"]) + " |",
        f"| placed → invoiced, every order incl. sub-orders (p50 / p99) | "
        f"{seconds(every['p50'])} / {seconds(every['p99'])} ({every['count']:,} invoiced) |",
        "",
        "## Faults",
        "",
        "| at (UTC) | after | fault | target | down / frozen | recovered after | detail |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in data["faults"]:
        lines.append(
            f"| {f['at']} | {f['elapsed_s']:.0f} s | {f['kind']} | {f['target']} | "
            f"{f['outage_s']:.1f} s | {f['recovery_s']:.1f} s | {f['detail']} |"
        )
    lines += [
        "",
        "Recovered: every service answers `/health/ready` again (database and broker reachable);"
        " for poison, every consumer group of the topic has dead-lettered every record.",
        "",
        "Supervisor (restarts as `make run` does them): "
        + ("; ".join(data["supervisor"]) if data["supervisor"] else "nothing to restart")
        + ".",
        f"Unplanned restarts (a service died without being killed): "
        f"{len(data['unplanned_restarts'])}.",
        "",
        "## Checks",
        "",
    ]
    for check in data["checks"]:
        lines.append(f"### {'PASS' if check['ok'] else 'FAIL'}: {check['name']}")
        lines.append("")
        for name, value in check["figures"].items():
            if name == "examples" and not value:
                continue
            shown = json.dumps(value) if isinstance(value, dict | list) else value
            lines.append(f"- {name}: {shown}")
        lines.append("")
    lines += [
        "## Inbox and outbox at the end",
        "",
        "Rows and size (indexes included) of each service's tables once the system settled: the"
        " outbox keeps published rows `OUTBOX_RETENTION_S` (1 h), the inbox its event ids "
        "`INBOX_RETENTION_HOURS` (31 days), each deleted in small batches after that.",
        "",
        "| table | rows | size |",
        "|---|---|---|",
        *(
            f"| {name} | {size['rows']:,} | {size['bytes'] / 1e6:.1f} MB |"
            for name, size in data.get("tables", {}).items()
        ),
        "",
        *steady_state(data),
        "## What the broker restart guarantees",
        "",
        "Tansu's memory storage forgets its topics on restart. The platform's promise is in "
        "PostgreSQL: an outbox row not yet sent is sent after the restart, an event already "
        "consumed has its effect in the consumer's database. A record produced and not yet "
        "consumed by every group lives only in the broker and would be lost, so the run "
        "restarts the broker at a drain point (load held, services frozen at a moment every "
        "group has committed every record, the topics read to their end) and checks the "
        "outboxes against the topics of both lives of the broker. A persistent Kafka needs no "
        "drain point.",
        "",
    ]
    return "\n".join(lines)


def retention_s() -> dict[str, float]:
    """How long each table keeps a row (the services' defaults, which the soak runs with)."""
    fields = ServiceSettings.model_fields
    return {
        "inbox": float(fields["inbox_retention_hours"].default) * 3600,
        "outbox": float(fields["outbox_retention_s"].default),
    }


def steady_state(data: dict[str, Any]) -> list[str]:
    """What the tables hold once their retention deletes as fast as rows come: the run kept
    every row (it is shorter than either retention), so its rows per order and bytes per row
    give the steady state at a rate: rows per order x rate x retention."""
    tables, orders = data.get("tables", {}), data.get("orders_total", 0)
    if not tables or not orders:
        return []
    keeps = retention_s()
    lines = [
        "Steady state at a constant rate, from this run's rows per order (sub-orders "
        "included) and bytes per row, once retention deletes as fast as rows arrive:",
        "",
        "| tables | retention | rows per order | bytes per row | "
        + " | ".join(f"at {rate} orders/s" for rate in PROJECTED_RATES)
        + " |",
        "|---|---|---|---|" + "---|" * len(PROJECTED_RATES),
    ]
    for kind, kept_s in keeps.items():
        sizes = [size for name, size in tables.items() if name.endswith(f".{kind}")]
        rows = sum(size["rows"] for size in sizes)
        if not rows:
            continue
        per_order, per_row = rows / orders, sum(size["bytes"] for size in sizes) / rows
        projected = [per_order * rate * kept_s for rate in PROJECTED_RATES]
        lines.append(
            f"| every {kind} | {_duration(kept_s)} | {per_order:.1f} | {per_row:,.0f} | "
            + " | ".join(f"{n / 1e6:,.1f} M rows, {n * per_row / 1e9:,.1f} GB" for n in projected)
            + " |"
        )
    return [*lines, ""]


def _duration(seconds: float) -> str:
    return f"{seconds / 86400:g} days" if seconds >= 86400 else f"{seconds / 3600:g} h"
