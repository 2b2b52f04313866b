"""Metrics as a test reads them: a service's /metrics, Prometheus text parsed by
prometheus_client's own parser, never by hand (a hand-written parser misreads escaped label
values, exponents, NaN and `+Inf`); the PromQL of the Grafana dashboards."""

from __future__ import annotations

import re
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

CONSUMER_MESSAGES = "supplychain_consumer_messages_total"


def samples(metrics_text: str, name: str, **labels: str) -> list[Sample]:
    """The samples called `name` (a sample's own name: `_total`, `_count` and `_bucket`
    included) whose labels include `labels`."""
    return [
        sample
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]


def metric_value(metrics_text: str, name: str, **labels: str) -> float:
    """The sum of the samples `samples()` selects: one series' value when `labels` name all of
    its labels, a total over the others when not; 0 when there is none."""
    return sum(sample.value for sample in samples(metrics_text, name, **labels))


def consumer_outcomes(
    metrics_text: str, *, service: str, outcome: str, topic: str | None = None
) -> int:
    """Records the service's consumer counted with `outcome` (applied, duplicate, ...), per
    the text of its /metrics; of `topic`, or of every topic."""
    where = {"service": service, "outcome": outcome}
    if topic is not None:
        where["topic"] = topic
    return int(metric_value(metrics_text, CONSUMER_MESSAGES, **where))


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and query variable."""
    queries: list[tuple[str, str]] = []
    panels = list(dashboard["panels"])
    while panels:
        panel = panels.pop()
        panels.extend(panel.get("panels", []))
        queries += [(f"panel {panel['title']!r}", t["expr"]) for t in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = (
            variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        )
        match = re.fullmatch(r"label_values\((.+),\s*\w+\)", query)
        assert match, f"variable {variable['name']}: {query}"
        queries.append((f"variable {variable['name']}", match.group(1)))
    return queries
