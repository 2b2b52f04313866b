"""Metrics of invoicing beyond the contract ones in supplychain_kit.metrics.

A Prometheus counter cannot go down, so credit notes are counted here rather than
subtracted from `supplychain_invoiced_amount_total`: net invoiced = invoiced - credited.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter

CREDITED_AMOUNT: Final = Counter(
    "supplychain_credited_amount",
    "Amount credited between departments by credit notes (cancellations, SLA credits)",
    ["supplier", "requester", "reason"],
)
