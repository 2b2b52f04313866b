"""The before/after table of `make bench`: this run's results.json against a baseline run's
(`bench/baseline/*.json`, the newest file; the run before the efficiency work is kept there),
on the figures both runs have. Ratios are after/before: read each with the baseline's own
conditions (its per-rate duration, the machine's load then)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASELINES = Path(__file__).resolve().parent / "baseline"

Figure = Callable[[dict[str, Any]], float | None]


def _rate(data: dict[str, Any], offered: int) -> dict[str, Any] | None:
    return next((r for r in data.get("rates", []) if r["offered"] == offered), None)


def _sustained(data: dict[str, Any]) -> float | None:
    kept = [r["achieved"] for r in data.get("rates", []) if r.get("keeps_up")]
    return max(kept) if kept else None


def _p99_ms(offered: int) -> Figure:
    def figure(data: dict[str, Any]) -> float | None:
        rate = _rate(data, offered)
        return rate["e2e_p99"] * 1000 if rate and rate.get("e2e_p99") is not None else None

    return figure


def _cpu_ms_per_order(data: dict[str, Any]) -> float | None:
    """CPU of the stack (without the load generator) per invoiced order, at the highest rate
    that kept up."""
    kept = [r for r in data.get("rates", []) if r.get("keeps_up") and r.get("cpu_s")]
    if not kept:
        return None
    rate = max(kept, key=lambda r: r["achieved"])
    stack = sum(s for name, s in rate["cpu_s"].items() if not name.startswith("load generator"))
    return stack / rate["completed"] * 1000 if rate["completed"] else None


def _service(name: str) -> Figure:
    def figure(data: dict[str, Any]) -> float | None:
        found = next((s for s in data.get("services", []) if s["service"] == name), None)
        return found["platform"] if found else None

    return figure


def _relay_ratio(baseline: str) -> Figure:
    """The relay against a raw produce baseline of the run (None where the run lacks it: the
    same-acks baseline is newer than the oldest runs)."""

    def figure(data: dict[str, Any]) -> float | None:
        kit = data.get("kit", {})
        return kit["relay"] / kit[baseline] if kit.get(baseline) and "relay" in kit else None

    return figure


def _rss_mb(data: dict[str, Any]) -> float | None:
    services = {k: v for k, v in data.get("rss_peak_bytes", {}).items() if "bare" not in k}
    return max(services.values()) / 1e6 if services else None


FIGURES: list[tuple[str, str, Figure]] = [
    # the machine itself: the same library code in both runs
    ("raw aiokafka produce (the machine)", "msg/s", lambda d: d.get("kit", {}).get("raw_produce")),
    ("raw aiokafka consume (the machine)", "msg/s", lambda d: d.get("kit", {}).get("raw_consume")),
    ("sustained orders/s (highest rate kept up)", "orders/s", _sustained),
    ("placed → invoiced p99 at 10 orders/s", "ms", _p99_ms(10)),
    ("placed → invoiced p99 at 50 orders/s", "ms", _p99_ms(50)),
    ("CPU per order, whole stack", "ms", _cpu_ms_per_order),
    ("intake POST /v1/orders", "req/s", lambda d: d.get("intake", {}).get("ours")),
    ("intake / bare endpoint", "x", lambda d: d.get("intake", {}).get("ratio")),
    ("outbox relay", "msg/s", lambda d: d.get("kit", {}).get("relay")),
    (
        "raw aiokafka produce, the relay's acks and batch wait",
        "msg/s",
        lambda d: d.get("kit", {}).get("raw_produce_acked"),
    ),
    ("outbox relay / raw produce with the same acks", "x", _relay_ratio("raw_produce_acked")),
    ("outbox relay / raw produce, streaming", "x", _relay_ratio("raw_produce")),
    ("the kit consumer (one-row effect)", "msg/s", lambda d: d.get("kit", {}).get("kit_consumer")),
    *[
        (f"{name} consume path with its handlers", "events/s", _service(name))
        for name in ("order-intake", "fulfilment", "invoicing", "monitoring")
    ],
    ("highest service RSS at peak", "MB", _rss_mb),
]


def newest_baseline() -> Path | None:
    found = sorted(BASELINES.glob("*.json"))
    return found[-1] if found else None


def section(after: dict[str, Any], baseline: Path | None = None) -> list[str]:
    baseline = baseline or newest_baseline()
    if baseline is None:
        return []
    before = json.loads(baseline.read_text(encoding="utf-8"))
    lines = [
        "## Before and after",
        "",
        f"Against the baseline run `{baseline.relative_to(BASELINES.parent)}` (its own "
        "conditions: its rates ran 15 s each, this one's as stated above). The first two rows "
        "run the same library code in both: when they differ, the machine did, and only the "
        "ratios to the baselines of each run compare:",
        "",
        "| figure | before | after | after/before |",
        "|---|---|---|---|",
    ]
    for label, unit, figure in FIGURES:
        old, new = figure(before), figure(after)
        ratio = f"{new / old:.2f}x" if old and new is not None else "—"
        lines.append(f"| {label} ({unit}) | {_fmt(old)} | {_fmt(new)} | {ratio} |")
    lines.append("")
    return lines


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.0f}"
