"""The bench's report from given figures: the relay's bound, the before/after table against an
older baseline, the simulated workers' share of a profile, the realistic mix's outcomes."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import before_after  # bench/ is not a package
import mix
import profiles
import run_bench
import system_bench


def kit(*, streaming: float, acked: float, relay: float) -> run_bench.KitResults:
    def result(name: str, rate: float) -> run_bench.Result:
        return run_bench.Result(name, [rate])

    return run_bench.KitResults(
        messages=500,
        consume_messages=300,
        rounds=1,
        size=530,
        raw_produce=result("raw", streaming),
        raw_produce_acked=result("raw acked", acked),
        relay=result("relay", relay),
        raw_consume=result("consume", 1),
        raw_exactly_once=result("eo", 1),
        raw_batched=result("batched", 1),
        kit_consumer=result("kit", 1),
    )


def test_the_relay_is_bound_against_the_same_acks_and_says_what_the_wait_costs() -> None:
    bound = system_bench.relay_bound(kit(streaming=10_000, acked=6_000, relay=2_000))

    assert bound is not None
    assert "**Relay 0.33x raw produce with the same acks** (2,000 against 6,000 msg/s)" in bound
    assert "that wait alone costs raw aiokafka 40 % of its streaming rate" in bound


def test_a_wait_that_costs_nothing_is_not_blamed() -> None:
    bound = system_bench.relay_bound(kit(streaming=6_000, acked=6_500, relay=2_000))

    assert bound is not None
    assert "that wait costs raw aiokafka nothing measurable here" in bound


def test_no_bound_when_the_relay_reaches_half_its_baseline() -> None:
    assert system_bench.relay_bound(kit(streaming=20_000, acked=6_000, relay=3_000)) is None


def test_before_after_shows_a_dash_where_the_baseline_lacks_the_same_acks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(before_after, "BASELINES", tmp_path / "baseline")
    baseline = tmp_path / "baseline" / "2026-01-01.json"
    baseline.parent.mkdir()
    baseline.write_text(json.dumps({"kit": {"raw_produce": 10_000, "relay": 2_500}}))
    after = {"kit": {"raw_produce": 12_000, "raw_produce_acked": 8_000, "relay": 4_000}}

    rows = {line.split(" | ")[0]: line for line in before_after.section(after, baseline)}

    acked = rows["| outbox relay / raw produce with the same acks (x)"]
    assert acked.endswith("| — | 0.50 | — |")
    streaming = rows["| outbox relay / raw produce, streaming (x)"]
    assert streaming.endswith("| 0.25 | 0.33 | 1.33x |")


def test_the_simulated_workers_are_the_samples_with_the_autopilot_on_the_stack(
    tmp_path: Path,
) -> None:
    loop = "run (asyncio/runners.py:118)"
    step = "run_autopilot (fulfilment/autopilot.py:127);run_step (fulfilment/autopilot.py:99)"
    raw = tmp_path / "fulfilment.txt"
    raw.write_text(
        f"{loop};{step};execute (fulfilment/commands.py:97);fetch (asyncpg/connection.py:1) 3\n"
        f"{loop};{step};due_for_autopilot (fulfilment/store.py:12) 1\n"
        f"{loop};handle (fulfilment/handlers.py:40);execute (fulfilment/commands.py:97) 4\n"
        f"{loop};select (selectors.py:468);EpollSelector.select (selectors.py:469) 50\n"
    )

    summary = profiles.summarise(raw)

    assert (summary.samples, summary.simulation, summary.simulation_commands) == (8, 4, 3)
    assert summary.simulation_share == pytest.approx(0.5)
    workers = system_bench.SimulatedWorkers(
        rate=50,
        share=summary.simulation_share,
        commands_share=summary.simulation_commands_share,
        fulfilment_ms=10.0,
    )
    assert (workers.ms_per_order, workers.own_ms_per_order) == (5.0, pytest.approx(1.25))


def test_each_root_is_counted_by_how_it_ended() -> None:
    placed, invoiced = (1.0, 1.0), (2.0, 2.5)
    roots = [
        mix.Root(mix.CANCELLED, order_id="a", cancel_status=202),
        mix.Root(mix.CANCELLED, order_id="b", cancel_status=202),
        mix.Root(mix.CANCELLED, order_id="c", cancel_status=409),
        mix.Root(mix.CANCELLED, order_id="d", cancel_status=202),
        mix.Root(mix.CANCELLED, status=422),
        mix.Root(mix.LEAF, order_id="e"),
    ]
    seen = {
        "a": {"OrderPlaced": placed, "WorkCancelled": invoiced},
        "b": {"OrderPlaced": placed, "CancellationRefused": invoiced, "InvoiceIssued": invoiced},
        "c": {"OrderPlaced": placed, "InvoiceIssued": invoiced},
        "d": {"OrderPlaced": placed},
        "e": {"OrderPlaced": placed, "InvoiceIssued": invoiced},
    }

    cancelled = mix.outcome(mix.CANCELLED, roots, seen)

    assert (cancelled.sent, cancelled.placed) == (5, 4)
    assert cancelled.endings == Counter(cancelled=1, invoiced=2, unfinished=1)
    assert (cancelled.cancel_asked, cancelled.cancel_refused) == (4, 2)
    assert cancelled.e2e_p99 == pytest.approx(1.5)
    assert mix.outcome(mix.LEAF, roots, seen).endings == Counter(invoiced=1)
