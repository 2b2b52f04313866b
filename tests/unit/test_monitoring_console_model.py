"""The console's pure rules: a chain's state, the waterfall's rows and geometry, links."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from monitoring.api import HandoffStage
from monitoring.console.api import short_duration
from monitoring.console.model import (
    KEYLESS,
    audience_of,
    chain_state,
    open_dispute,
    seconds_to_breach,
    timeline_note,
    trace_url,
    waterfall_bars,
)
from supplychain_kit.http.auth import Principal

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("events", "state"),
    [
        (["OrderPlaced"], "placed"),
        (["OrderPlaced", "OrderAccepted", "WorkStarted"], "in progress"),
        (["OrderPlaced", "OrderAccepted", "ComponentsRequested"], "waiting for components"),
        (["OrderAccepted", "OrderShipped", "OrderDelivered", "InvoiceIssued"], "invoiced"),
        # events arrive across topics in any order: the furthest one decides
        (["InvoiceIssued", "OrderPlaced", "OrderDelivered"], "invoiced"),
        (["OrderPlaced", "OrderAccepted", "OrderBlocked"], "blocked"),
        # a cancellation is a request fulfilment settles: only cancelled work cancels
        (["OrderPlaced", "OrderCancelled", "WorkCancelled", "OrderAccepted"], "cancelled"),
        (["OrderPlaced", "OrderAccepted", "OrderCancelled"], "cancellation requested"),
        (["OrderPlaced", "OrderCancelled", "CancellationRefused", "OrderShipped"], "shipped"),
        (["OrderDelivered", "OrderCancelled", "InvoiceIssued"], "invoiced"),
        (["OrderPlaced", "OrderRejected", "SlaBreached"], "rejected"),
        (["SlaWarning"], "seen"),
    ],
)
def test_a_chains_state_is_the_furthest_event_seen_of_its_root_order(
    events: list[str], state: str
) -> None:
    assert chain_state(events) == state


def row(
    order_id: uuid.UUID,
    stage: str,
    *,
    start_s: float | None,
    end_s: float | None,
    target_s: float | None = 10,
    parent: uuid.UUID | None = None,
    depth: int = 0,
) -> dict[str, Any]:
    started = T0 + timedelta(seconds=start_s) if start_s is not None else None
    return {
        "order_id": order_id,
        "parent_order_id": parent,
        "depth": depth,
        "stage": stage,
        "supplier": "WHEELS",
        "requester": "ASSEMBLY",
        "started_at": started,
        "ended_at": T0 + timedelta(seconds=end_s) if end_s is not None else None,
        "duration_s": end_s - start_s if end_s is not None and start_s is not None else None,
        "target_s": target_s,
        "warn_at": started + timedelta(seconds=0.75 * target_s) if started and target_s else None,
        "deadline": started + timedelta(seconds=target_s) if started and target_s else None,
        "trace_id": "ab" * 16,
    }


def test_the_waterfall_spans_the_chain_and_places_each_handoff_with_its_markers() -> None:
    root, child = uuid.uuid4(), uuid.uuid4()
    rows = [
        row(child, "acceptance", start_s=10, end_s=30, parent=root, depth=1),  # late
        row(root, "fulfilment", start_s=5, end_s=None, target_s=1000),  # running
        row(root, "acceptance", start_s=0, end_s=5),
    ]
    span_s, bars = waterfall_bars(rows, now=T0 + timedelta(seconds=40))
    assert span_s == 40  # from the first start to now (a stage still runs)
    assert [(b.order_id, b.stage) for b in bars] == [
        (root, "acceptance"),
        (root, "fulfilment"),
        (child, "acceptance"),
    ]
    accepted, running, late = bars
    assert (accepted.left_pct, accepted.width_pct, accepted.status) == (0, 12.5, "met")
    assert accepted.target_pct == 25 and accepted.deadline_pct == 25
    assert (running.left_pct, running.width_pct, running.status) == (12.5, 87.5, "open")
    assert running.target_pct is None and running.deadline_pct is None  # beyond the chart
    assert (late.left_pct, late.width_pct, late.status) == (25, 50, "breached")
    assert late.deadline_pct == 50


def test_a_bar_is_the_handoffs_api_stage_with_its_geometry() -> None:
    """One model of a stage row: the console's bar carries the API's fields, named as the
    API names them (`target_seconds`), and only adds where it is drawn."""
    stage = row(uuid.uuid4(), "acceptance", start_s=0, end_s=5)
    now = T0 + timedelta(seconds=10)
    [bar] = waterfall_bars([stage], now=now)[1]
    assert isinstance(bar, HandoffStage) and bar.target_seconds == 10
    told = HandoffStage.of_row(stage, now=now).model_dump()
    assert bar.model_dump(include=set(told)) == told
    assert set(bar.model_dump()) - set(told) == {
        "left_pct",
        "width_pct",
        "target_pct",
        "deadline_pct",
    }


def test_sub_orders_follow_their_parent_depth_first_earliest_first() -> None:
    root, first, second, grandchild = (uuid.uuid4() for _ in range(4))
    rows = [
        row(second, "acceptance", start_s=3, end_s=4, parent=root, depth=1),
        row(grandchild, "acceptance", start_s=5, end_s=6, parent=first, depth=2),
        row(first, "acceptance", start_s=2, end_s=3, parent=root, depth=1),
        row(root, "end_to_end", start_s=0, end_s=9),
        row(root, "acceptance", start_s=0, end_s=1),
    ]
    _, bars = waterfall_bars(rows, now=T0 + timedelta(seconds=9))
    assert [(b.order_id, b.stage) for b in bars] == [
        (root, "end_to_end"),
        (root, "acceptance"),
        (first, "acceptance"),
        (grandchild, "acceptance"),
        (second, "acceptance"),
    ]


def test_a_chain_without_a_started_stage_has_no_geometry() -> None:
    span_s, bars = waterfall_bars(
        [row(uuid.uuid4(), "acceptance", start_s=None, end_s=None)], now=T0
    )
    assert span_s == 0
    assert (bars[0].left_pct, bars[0].width_pct, bars[0].status) == (0, 0, "open")


def test_time_to_breach_is_negative_once_the_deadline_passed() -> None:
    assert seconds_to_breach(T0 + timedelta(seconds=90), T0) == 90
    assert seconds_to_breach(T0, T0 + timedelta(seconds=12.34)) == -12.3


def test_the_trace_links_to_jaeger_only_when_a_tracing_ui_is_configured() -> None:
    assert trace_url(None, "ab" * 16) is None
    assert trace_url("http://localhost:16686/", None) is None
    assert trace_url("http://localhost:16686/", "ab" * 16) == (
        "http://localhost:16686/trace/" + "ab" * 16
    )


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "\u2013"),
        (1.26, "1.3 s"),
        (-4, "-4.0 s"),
        (245, "4m 05s"),
        (7380, "2h 03m"),
        (3 * 86400 + 4 * 3600, "3d 4h"),
    ],
)
def test_durations_are_short_enough_for_a_table_cell(seconds: float | None, shown: str) -> None:
    assert short_duration(seconds) == shown


def test_a_refused_cancellation_and_a_settled_dispute_are_noted_with_their_reason() -> None:
    order_id = uuid.uuid4()
    refused = timeline_note(
        {
            "order_id": order_id,
            "event_type": "CancellationRefused",
            "occurred_at": T0,
            "payload": {"reason": "already shipped"},
        },
        audience=KEYLESS,
    )
    assert (refused.label, refused.reason) == ("cancellation refused", "already shipped")
    settled = timeline_note(
        {
            "order_id": order_id,
            "event_type": "DisputeSettled",
            "occurred_at": T0,
            "payload": {"outcome": "rejected", "reason": "delivered as ordered"},
        },
        audience=KEYLESS,
    )
    assert settled.label == "dispute rejected"


def test_a_reason_people_wrote_shows_to_a_party_of_its_order_and_no_staff() -> None:
    note = {
        "order_id": uuid.uuid4(),
        "supplier": "FRAMES",
        "requester": "ASSEMBLY",
        "event_type": "CancellationRefused",
        "occurred_at": T0,
        "payload": {"reason": "already shipped"},
    }
    shown = {
        key_id: timeline_note(note, audience=audience_of(principal)).reason
        for key_id, principal in {
            "party": Principal(department="FRAMES", key_id="frames-1"),
            "root requester": Principal(department="RETAIL_OPS", key_id="retail_ops-1"),
            "analyst": Principal(department="analyst", key_id="analyst-1", role="analyst"),
            "operator": Principal(department="operator", key_id="operator-1", role="operator"),
        }.items()
    }
    assert shown == {
        "party": "already shipped",
        "root requester": "",  # sees the sub-order's handoffs, not what its parties wrote
        "analyst": "",
        "operator": "",
    }


def test_an_open_dispute_is_escalated_once_invoicing_said_so_and_ages_from_its_opening() -> None:
    base = {
        "dispute_id": uuid.uuid4(),
        "invoice_id": uuid.uuid4(),
        "order_id": uuid.uuid4(),
        "supplier": "WHEELS",
        "requester": "ASSEMBLY",
        "amount": "12.50",
        "currency": "EUR",
        "reason": "two wheels scratched",
        "opened_at": T0,
        "escalated_at": None,
    }
    now = T0 + timedelta(hours=2)
    shown = open_dispute(base, now=now, audience=KEYLESS)
    assert (shown.status, shown.age_s, shown.amount) == ("open", 7200.0, "12.50")
    assert shown.reason == "two wheels scratched"
    escalated = open_dispute({**base, "escalated_at": now}, now=now, audience=KEYLESS)
    assert escalated.status == "escalated"
    staff = Principal(department="operator", key_id="operator-1", role="operator")
    assert open_dispute(base, now=now, audience=audience_of(staff)).reason is None
