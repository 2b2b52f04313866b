"""The live chain view's pure parts: how a watch ends and how a handoff reads (no IO)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console
from supplychain_cli.output import Exit
from supplychain_cli.watch import (
    Snapshot,
    chain_tree,
    ending,
    seconds,
    stage_line,
    state_from_stages,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ROOT = "11111111-1111-4111-8111-111111111111"
SUB = "22222222-2222-4222-8222-222222222222"
SUB_SUB = "33333333-3333-4333-8333-333333333333"


def order(status: str) -> dict[str, Any]:
    return {"order_id": ROOT, "requester": "RETAIL_OPS", "supplier": "ASSEMBLY", "status": status}


def handoff(
    stage: str, *, order_id: str = ROOT, parent: str | None = None, **fields: Any
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "parent_order_id": parent,
        "stage": stage,
        "requester": "ASSEMBLY" if parent else "RETAIL_OPS",
        "supplier": "FRAMES" if parent else "ASSEMBLY",
        "started_at": None,
        "ended_at": None,
        "duration_s": None,
        "target_seconds": None,
        "deadline": None,
        "status": "open",
        **fields,
    }


@pytest.mark.parametrize(
    ("status", "work", "code"),
    [
        ("invoiced", None, Exit.OK),
        ("rejected", None, Exit.ENDED_BADLY),
        ("cancelled", None, Exit.ENDED_BADLY),
        ("accepted", {"status": "blocked"}, Exit.ENDED_BADLY),
        ("delivered", {"status": "delivered"}, None),
        ("placed", None, None),
        ("pending_approval", None, None),
    ],
)
def test_a_watch_ends_when_the_root_order_is_invoiced_rejected_cancelled_or_blocked(
    status: str, work: dict[str, Any] | None, code: Exit | None
) -> None:
    outcome = ending(Snapshot(order=order(status), work=work))
    assert (outcome.code if outcome else None) == code


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.84, "0.8s"), (42, "42s"), (185, "3m05s"), (7380, "2h03m"), (3 * 86400 + 7 * 3600, "3d07h")],
)
def test_durations_read_like_a_person_writes_them(value: float, shown: str) -> None:
    assert seconds(value) == shown


def test_an_open_stage_shows_elapsed_against_target_and_the_countdown() -> None:
    line = stage_line(
        handoff(
            "acceptance",
            started_at=NOW - timedelta(minutes=30),
            target_seconds=4 * 3600,
            deadline=NOW + timedelta(hours=3, minutes=30),
        ),
        NOW,
    ).plain
    assert line == "acceptance  open     30m00s of 4h00m (12%)  deadline in 3h30m"


def test_a_late_stage_says_how_far_past_its_deadline_it_is() -> None:
    line = stage_line(
        handoff(
            "fulfilment",
            started_at=NOW - timedelta(hours=2),
            target_seconds=3600,
            deadline=NOW - timedelta(hours=1),
            status="breached",
        ),
        NOW,
    ).plain
    assert line.endswith("1h00m past deadline")
    assert "(200%)" in line


def test_a_met_stage_shows_its_duration_and_no_countdown() -> None:
    line = stage_line(
        handoff(
            "delivery",
            started_at=NOW - timedelta(seconds=5),
            ended_at=NOW - timedelta(seconds=3),
            duration_s=2.0,
            target_seconds=100,
            deadline=NOW + timedelta(seconds=95),
            status="met",
        ),
        NOW,
    ).plain
    assert line == "delivery    met      2.0s of 1m40s (2%)"


def test_the_tree_puts_sub_orders_under_the_order_they_supply() -> None:
    snapshot = Snapshot(
        order=order("accepted"),
        work={"status": "accepted", "sub_orders": [{"order_id": SUB, "status": "in_progress"}]},
        handoffs=[
            handoff("acceptance", started_at=NOW, ended_at=NOW, duration_s=1.0, status="met"),
            handoff("acceptance", order_id=SUB, parent=ROOT, started_at=NOW, status="open"),
        ],
    )
    console = Console(width=120, record=True)
    console.print(chain_tree(snapshot, NOW))
    lines = console.export_text().splitlines()
    assert lines[0] == f"{ROOT}  RETAIL_OPS -> ASSEMBLY  [accepted]"
    sub_line = next(
        i for i, line in enumerate(lines) if "ASSEMBLY -> FRAMES  [in_progress]" in line
    )
    assert "22222222" in lines[sub_line]
    assert "acceptance" in lines[sub_line + 1]
    # the sub-order is indented one level deeper than the root's stages
    assert lines[sub_line + 1].index("acceptance") > lines[1].index("acceptance")


def test_every_level_of_a_chain_shows_its_state() -> None:
    """The root's state comes from order intake, its sub-orders' from fulfilment, a third-level
    order's from its stages (the watcher may not read that order's work item)."""
    done = {"started_at": NOW, "ended_at": NOW, "duration_s": 1.0, "status": "met"}
    snapshot = Snapshot(
        order=order("accepted"),
        work={"status": "accepted", "sub_orders": [{"order_id": SUB, "status": "in_progress"}]},
        handoffs=[
            handoff("acceptance", **done),
            handoff("acceptance", order_id=SUB, parent=ROOT, **done),
            handoff("acceptance", order_id=SUB_SUB, parent=SUB, **done),
            handoff("fulfilment", order_id=SUB_SUB, parent=SUB, **done),
            handoff("delivery", order_id=SUB_SUB, parent=SUB, started_at=NOW),
        ],
    )
    console = Console(width=120, record=True)
    console.print(chain_tree(snapshot, NOW))
    [third] = [line for line in console.export_text().splitlines() if "33333333" in line]
    assert third.endswith("[shipped]")


@pytest.mark.parametrize(
    ("stages", "state"),
    [
        ([], None),
        ([handoff("acceptance")], None),  # not begun
        ([handoff("acceptance", started_at=NOW)], "placed"),
        ([handoff("acceptance", started_at=NOW, ended_at=NOW)], "accepted"),
        (
            [
                handoff("invoicing", started_at=NOW, ended_at=NOW),
                handoff("delivery", started_at=NOW, ended_at=NOW),
                handoff("end_to_end", started_at=NOW, ended_at=NOW),
            ],
            "invoiced",
        ),
        (
            [
                handoff("delivery", started_at=NOW, ended_at=NOW),
                handoff("end_to_end", started_at=NOW, ended_at=NOW),
            ],
            "delivered",
        ),
        ([handoff("acceptance", started_at=NOW, ended_at=NOW, outcome="rejected")], "rejected"),
        (
            [
                handoff("acceptance", started_at=NOW, ended_at=NOW),
                handoff("fulfilment", started_at=NOW, ended_at=NOW, outcome="cancelled"),
            ],
            "cancelled",
        ),
    ],
)
def test_an_order_state_is_read_from_its_stages(
    stages: list[dict[str, Any]], state: str | None
) -> None:
    assert state_from_stages(stages) == state


def test_the_tree_tells_a_refused_cancellation_and_a_cancelled_watch_says_why() -> None:
    refused = {
        **order("shipped"),
        "cancellation": {
            "status": "refused",
            "reason": "already shipped",
            "settled_at": "2026-03-02T11:59:00Z",
        },
    }
    console = Console(width=160, record=True)
    console.print(chain_tree(Snapshot(order=refused), NOW))
    text = console.export_text()
    assert "cancellation refused by the supplier (CancellationRefused): the order goes on" in text
    assert "(2026-03-02 11:59:00): already shipped" in text
    assert ending(Snapshot(order=refused)) is None  # the order goes on

    cancelled = {
        **order("cancelled"),
        "cancellation": {"status": "cancelled", "reason": "plan changed"},
    }
    outcome = ending(Snapshot(order=cancelled))
    assert outcome is not None and outcome.code is Exit.ENDED_BADLY
    assert outcome.message == f"order {ROOT} cancelled: plan changed"
