"""Metrics invoicing emits: amounts invoiced and credited, settled cancellations.

Declared here, by the one service that emits them; the platform's own metrics are the kit's
(supplychain_kit.metrics). Names and labels are what the dashboards and alert rules read.

A Prometheus counter cannot go down, so credit notes are counted here rather than
subtracted from `supplychain_invoiced_amount_total`: net invoiced = invoiced - credited.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter

INVOICED_AMOUNT: Final = Counter(
    "supplychain_invoiced_amount", "Amount invoiced between departments", ["supplier", "requester"]
)
CREDITED_AMOUNT: Final = Counter(
    "supplychain_credited_amount",
    "Amount credited between departments by credit notes (SLA credits, accepted disputes)",
    ["supplier", "requester", "reason"],
)

REVERSED_AMOUNT: Final = Counter(
    "supplychain_credit_reversed_amount",
    "Amount taken back by reversal credit notes (a breach retracted): net credited = "
    "credited - reversed",
    ["supplier", "requester", "reason"],
)

CANCELLED_DELIVERIES: Final = Counter(
    "supplychain_invoicing_cancelled_deliveries",
    "Deliveries of orders whose cancellation was settled (WorkCancelled): never invoiced; "
    "anything but 0 is a bug upstream",
    ["supplier"],
)

DROPPED_CLAIMS: Final = Counter(
    "supplychain_invoicing_dropped_claims",
    "SLA claims dropped because their order was cancelled before it was invoiced",
    ["supplier"],
)

UNOWED_BREACHES: Final = Counter(
    "supplychain_invoicing_unowed_breaches",
    "End-to-end breaches that credited nothing: the supplier shipped before the deadline",
    ["supplier"],
)
