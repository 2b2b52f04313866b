"""`make soak` works: its short variant (200 orders at 10/s, one fault of each kind: poison
records, fulfilment SIGKILLed and restarted by the supervisor, the broker restarted at a drain
point, PostgreSQL restarted) exits 0 and its report shows every check held with work to do.

About a minute on the 2-core reference machine (the stack starts once, in the soak).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
CHECKS = {
    "invoices issued = orders delivered (each exactly once)",
    "credit notes = breaches owed (one per invoiced order breached by its supplier)",
    "trial balance nets to zero",
    "no event lost from any outbox (every row on its topic, once)",
    "dead-letter topics hold exactly the injected poison",
    "order intake shows every invoiced order as invoiced",
    "every order sent was accepted (retried with its key through the faults)",
}


def test_the_short_soak_survives_one_fault_of_each_kind(tmp_path: Path) -> None:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("DATABASE_URL"):
        pytest.skip("the soak restarts the embedded broker and database it starts itself")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    run = subprocess.run(
        [sys.executable, "-m", "soak", "--short", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=ROOT,
        env=env,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-4000:]

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["ok"] is True
    checks = {c["name"]: c for c in results["checks"]}
    assert set(checks) == CHECKS
    assert all(c["ok"] for c in checks.values())
    faults = {(f["kind"], f["target"]) for f in results["faults"]}
    assert faults == {
        ("poison", "5 topics"),
        ("SIGKILL", "fulfilment"),
        ("restart", "Tansu broker"),
        ("restart", "PostgreSQL"),
    }
    assert all(f["recovery_s"] > 0 for f in results["faults"])
    assert results["unplanned_restarts"] == []

    # every check had work to do
    figures = {name: c["figures"] for name, c in checks.items()}
    sent = figures["every order sent was accepted (retried with its key through the faults)"]
    assert sent["sent"] == sent["accepted"] == sent["distinct orders"] == 200
    postgres = next(f for f in results["faults"] if f["target"] == "PostgreSQL")
    if postgres["elapsed_s"] < results["placing_s"]:  # restarted while orders were placed
        assert sent["sent more than once (same key)"] > 0  # it was felt, and resent
    delivered = figures["invoices issued = orders delivered (each exactly once)"]
    assert (
        delivered["invoices issued (invoicing API)"] == delivered["orders delivered (fulfilment)"]
    )
    assert delivered["orders delivered (fulfilment)"] > 200  # sub-orders of the chains too
    credits = figures[
        "credit notes = breaches owed (one per invoiced order breached by its supplier)"
    ]
    assert credits["SLA credit notes"] == credits["orders owed a credit (invoiced)"] > 0
    events = figures["no event lost from any outbox (every row on its topic, once)"]
    assert events["broker lives read"] == 2
    assert events["missing from their topic"] == events["unsent"] == 0
    poison = figures["dead-letter topics hold exactly the injected poison"]
    assert poison["poison records injected"] == 10
    found = poison["dead letters found"]
    assert found == poison["dead letters expected (one per consumer group of the topic)"] > 10

    report = (tmp_path / "report.md").read_text()
    assert report.count("### PASS: ") == len(CHECKS)
    assert "FAIL" not in report
    assert "p50 / p99" in report
