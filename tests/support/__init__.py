"""Test support: every helper the tests share, once (a helper copied into a test file is a
defect). The everyday ones are importable from the package itself (`from support import
auth, read_records`); the rest from the module that is their home:

- `support.kafka`: records read from and produced to the real broker with plain aiokafka;
- `support.http`: a department's key, an order body, polling an API;
- `support.reference`: reference data published as its owner does;
- `support.waits`: waiting on a condition, never on a sleep;
- `support.metrics`: /metrics through prometheus_client's parser, the dashboards' PromQL;
- `support.events`: contract event factories (`order_placed`, `order_delivered`);
- `support.service`: the service tier: events applied in process, what a service wrote;
- `support.stacks`, `support.replicas`: services started as processes, once per module;
- one module per service's or theme's tests: `support.order_intake`, `support.fulfilment`,
  `support.invoicing`, `support.invoicing_finance`, `support.monitoring`, `support.endings`,
  `support.stage_endings`, `support.verdicts`, `support.party`, `support.deploy`.

Nothing here imports pytest unless a module holds fixtures (`support.stacks`): the bench
imports `support` too.
"""

from support.http import auth, order_body, poll_http
from support.kafka import (
    Record,
    Tail,
    events_of,
    fetched,
    has_event,
    outbox_drained,
    placed_event_json,
    produce,
    read_records,
    read_to_end,
)
from support.metrics import panel_queries
from support.reference import (
    provide_company,
    publish_reference,
    reference_counts,
    reference_events,
    wait_for_reference,
)
from support.waits import eventually

__all__ = [
    "Record",
    "Tail",
    "auth",
    "events_of",
    "eventually",
    "fetched",
    "has_event",
    "order_body",
    "outbox_drained",
    "panel_queries",
    "placed_event_json",
    "poll_http",
    "produce",
    "provide_company",
    "publish_reference",
    "read_records",
    "read_to_end",
    "reference_counts",
    "reference_events",
    "wait_for_reference",
]
