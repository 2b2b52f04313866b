"""Metrics order intake emits: orders placed and budget overruns.

Declared here, by the one service that emits them; the platform's own metrics are the kit's
(supplychain_kit.metrics). Names and labels are what the dashboards and alert rules read.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter

ORDERS_PLACED: Final = Counter(
    "supplychain_orders_placed", "Internal orders placed", ["requester", "supplier"]
)
BUDGET_OVERRUNS: Final = Counter(
    "supplychain_budget_overruns",
    "Sub-orders of a production chain that took their requester over its monthly budget "
    "(recorded, never refused: a chain never stops half-way)",
    ["department"],
)
