"""The role table of docs/roles.md, walked against every route of every service (issue 23).

The four apps run in process on one database, without a broker, with an ASSEMBLY → WHEELS
order and an employee's purchase taken through every service (support.party). Each route
is called once with the key of each role: a department party to the order (the one owing
the step, for a command), PAINTSHOP (party to nothing), finance, analyst, operator, admin
and no key; the answer's class must be the table's. A route of an app that the table does
not name fails the walk, as does a table row naming no route.

A probe never changes what the seed made: reads, and commands the order's state refuses
(it is delivered, its feedback given, its dispute settled) or bodies a rule refuses.

The second test reads everything PAINTSHOP can read and finds neither order, its invoices,
dispute, trace or employee anywhere.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from support import auth
from support.party import (
    ADMIN,
    ANALYST,
    EMPLOYEE,
    FINANCE,
    OPERATOR,
    OUTSIDER,
    REQUESTER,
    SERVICES,
    SUPPLIER,
    Stack,
    seeded_stack,
)

ROLE_TABLE = Path(__file__).resolve().parents[2] / "docs" / "roles.md"
COLUMNS = ("party", "other", "finance", "analyst", "operator", "admin", "no key")
STAFF = {"finance": FINANCE, "analyst": ANALYST, "operator": OPERATOR, "admin": ADMIN}


@dataclass(frozen=True)
class Rule:
    """A row of the table: routes (each method of each path) of a service, and each column's cell."""

    service: str
    methods: frozenset[str]
    paths: tuple[str, ...]
    cells: dict[str, str]

    def covers(self, service: str, method: str, path: str) -> bool:
        return self.service in ("every", service) and method in self.methods and path in self.paths


def role_table() -> list[Rule]:
    """The rows of the table whose header starts `| service | method | path |`."""
    rows = [line for line in ROLE_TABLE.read_text().splitlines() if line.startswith("|")]
    start = next(i for i, row in enumerate(rows) if row.startswith("| service | method | path"))
    rules = []
    for row in rows[start + 2 :]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        if len(cells) != 3 + len(COLUMNS) + 1:
            break  # the next table
        service, methods, paths, *answers, _ = cells
        rules.append(
            Rule(
                service=service,
                methods=frozenset(m.strip() for m in methods.split(",")),
                paths=tuple(re.findall(r"`([^`]+)`", paths)),
                cells=dict(zip(COLUMNS, answers, strict=True)),
            )
        )
    return rules


def routes_of(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app answers (HEAD goes with GET)."""
    return {
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        for method in getattr(context, "methods", None) or ()
        if method != "HEAD"
    }


@dataclass(frozen=True)
class Probe:
    """How a route is called: path parameters beyond the seed's ids, query, body, headers,
    the department party to it, and what an admitted caller may get besides 2xx (the
    command's refusal of the probe, a reference that does not exist, no broker)."""

    party: str = REQUESTER
    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    answers: frozenset[int] = frozenset()


CONFLICT, REFUSED, MISSING, NO_BROKER = (
    frozenset({409}),
    frozenset({422}),
    frozenset({404}),
    frozenset({503}),
)
PERIOD = {"period": "{period}"}
PROBES: dict[tuple[str, str], Probe] = {
    ("GET", "/health/ready"): Probe(answers=NO_BROKER),
    # order intake
    ("POST", "/v1/orders"): Probe(
        body={
            "requester": REQUESTER,
            "supplier": SUPPLIER,
            "lines": [{"sku": "NO-SUCH-SKU", "quantity": 1}],
        },
        headers={"Idempotency-Key": "roles-walk-probe"},
        answers=REFUSED,
    ),
    ("POST", "/v1/orders/{order_id}/approve"): Probe(answers=CONFLICT),
    ("POST", "/v1/orders/{order_id}/cancel"): Probe(body={"reason": "probe"}, answers=CONFLICT),
    ("PUT", "/v1/admin/departments/{code}"): Probe(body={}, answers=REFUSED),
    ("PUT", "/v1/admin/catalogue/{sku}"): Probe(body={}, answers=REFUSED),
    ("PUT", "/v1/admin/employees/{employee_id}"): Probe(body={}, answers=REFUSED),
    ("PUT", "/v1/admin/fx-rates/{base}/{quote}"): Probe(body={}, answers=REFUSED),
    ("GET", "/v1/admin/fx-rates/{base}/{quote}"): Probe(answers=MISSING),  # none defined
    # fulfilment
    ("GET", "/v1/departments/{code}/queue"): Probe(party=SUPPLIER),
    ("POST", "/v1/fulfilments/{order_id}/{action}"): Probe(party=SUPPLIER, answers=CONFLICT),
    ("POST", "/v1/orders/{order_id}/help/{help_event_id}/awaiting-requester"): Probe(
        party=SUPPLIER, body={"question": "still matt?"}, answers=CONFLICT
    ),
    ("POST", "/v1/orders/{order_id}/receipt"): Probe(answers=CONFLICT),
    ("POST", "/v1/orders/{order_id}/feedback"): Probe(body={"rating": 5}, answers=CONFLICT),
    ("POST", "/v1/orders/{order_id}/help"): Probe(body={"subject": "again"}, answers=CONFLICT),
    ("POST", "/v1/orders/{order_id}/help/{help_event_id}/answer"): Probe(
        body={"answer": "gloss"}, answers=CONFLICT
    ),
    # invoicing
    ("GET", "/v1/statements/{code}"): Probe(query=PERIOD),
    ("POST", "/v1/invoices/{invoice_id}/disputes"): Probe(
        body={"amount": "100000.00", "reason": "probe"}, answers=REFUSED
    ),
    ("POST", "/v1/disputes/{dispute_id}/accept"): Probe(party=SUPPLIER, answers=CONFLICT),
    ("POST", "/v1/disputes/{dispute_id}/reject"): Probe(
        party=SUPPLIER, body={"reason": "probe"}, answers=CONFLICT
    ),
    ("POST", "/v1/admin/periods/{legal_entity}/{period}/close"): Probe(
        body={"reasn": "misspelt"}, answers=REFUSED
    ),
    ("POST", "/v1/admin/periods/{legal_entity}/{period}/reopen"): Probe(body={}, answers=REFUSED),
    # monitoring
    ("GET", "/v1/scorecards"): Probe(query=PERIOD),
    ("GET", "/v1/analytics/bottlenecks"): Probe(query=PERIOD),
    ("GET", "/v1/exports/ocel2"): Probe(query=PERIOD),
    ("PUT", "/v1/admin/sla-policies/{policy_id}"): Probe(body={}, answers=REFUSED),
    ("PUT", "/v1/admin/calendars/{code}"): Probe(body={}, answers=REFUSED),
    ("GET", "/v1/admin/calendars/{code}"): Probe(answers=MISSING),  # none defined
    # operations (every service): no broker here; a topic another service produces: 404
    ("GET", "/v1/operations/dead-letters"): Probe(answers=NO_BROKER),
    ("GET", "/v1/operations/dead-letters/{topic}/{partition}/{offset}"): Probe(
        answers=MISSING | NO_BROKER
    ),
    ("POST", "/v1/operations/dead-letters/{topic}/{partition}/{offset}/redrive"): Probe(
        body={"reason": "probe"}, answers=MISSING | CONFLICT | REFUSED | NO_BROKER
    ),
    ("POST", "/v1/operations/outbox-parking/release"): Probe(
        body={"outbox_ids": [999_999_999], "reason": "probe"}
    ),
}
# Path parameters other than the seed's ids ({code}: the party's own department).
PARAMETERS = {
    "action": "ship",
    "sku": "WHEEL-28",
    "employee_id": EMPLOYEE,
    "base": "EUR",
    "quote": "USD",
    "legal_entity": "NC-MFG",
    "policy_id": SUPPLIER,
    "name": "console.css",
    "topic": "orders.dlq",
    "partition": "0",
    "offset": "0",
}


def _filled(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


@pytest.fixture(scope="module")
async def stack(database: Any) -> AsyncIterator[Stack]:
    async with seeded_stack(database.new_database()) as seeded:
        yield seeded


def _keys(party: str) -> Iterator[tuple[str, dict[str, str]]]:
    yield "party", auth(party)
    yield "other", auth(OUTSIDER)
    yield from STAFF.items()
    yield "no key", {}


def _secrets(stack: Stack) -> list[str]:
    """What an outsider must never read: the orders, their documents, trace, the employee."""
    ids = stack.ids
    names = ("order", "purchase", "invoice", "purchase_invoice", "dispute", "help_event")
    return [ids[n] for n in names] + [ids["trace"], ids["purchase_trace"], EMPLOYEE]


def _mismatch(
    cell: str,
    answer: httpx.Response,
    probe: Probe,
    *,
    method: str,
    keyless: bool,
    secrets: list[str],
) -> str | None:
    """Why `answer` is not what `cell` says (None: it is)."""
    status = answer.status_code
    if cell == "401†":
        cell = "open" if keyless else "401"
    if cell in ("401", "403", "404"):
        return None if status == int(cell) else f"{status}, not {cell}"
    admitted = 200 <= status < 300 or status in probe.answers
    if cell in ("yes", "open"):
        return None if admitted else f"{status}, not admitted ({method})"
    if cell == "filtered":
        leaked = [s for s in secrets if s in answer.text]
        if not admitted or leaked:
            return f"{status}, leaked {leaked}"
        return None
    return f"unknown cell {cell!r}"


async def test_every_route_answers_each_role_as_the_role_table_says(stack: Stack) -> None:
    rules = role_table()
    keyless = stack.settings("monitoring").development_keys_allowed  # the console's local mode
    values = {
        "order_id": stack.ids["order"],
        "invoice_id": stack.ids["invoice"],
        "dispute_id": stack.ids["dispute"],
        "help_event_id": stack.ids["help_event"],
        "period": stack.ids["period"],
        **PARAMETERS,
    }
    secrets = _secrets(stack)
    unlisted, wrong, walked = [], [], set()
    for service in SERVICES:
        client = stack.clients[service]
        for method, path in sorted(routes_of(stack.apps[service])):
            rule = next((r for r in rules if r.covers(service, method, path)), None)
            if rule is None:
                unlisted.append(f"{service} {method} {path}")
                continue
            walked.add((rule.service, *sorted(rule.paths)))
            probe = PROBES.get((method, path), Probe())
            url = _filled(path, {"code": probe.party, **values, **probe.params})
            query = {k: _filled(v, values) for k, v in probe.query.items()}
            for column, key in _keys(probe.party):
                answer = await client.request(
                    method, url, params=query, json=probe.body, headers={**key, **probe.headers}
                )
                why = _mismatch(
                    rule.cells[column],
                    answer,
                    probe,
                    method=method,
                    keyless=keyless,
                    secrets=secrets,
                )
                if why:
                    wrong.append(f"{service} {method} {path} [{column}]: {why}")
    stale = [r for r in rules if (r.service, *sorted(r.paths)) not in walked]
    assert unlisted == [], f"routes missing from {ROLE_TABLE.name}: {unlisted}"
    assert stale == [], f"rows of {ROLE_TABLE.name} naming no route: {stale}"
    assert wrong == [], "\n".join(wrong)


async def test_an_outsider_department_sees_nothing_of_orders_it_is_not_party_to(
    stack: Stack,
) -> None:
    ids, period = stack.ids, stack.ids["period"]
    orders, invoices = (ids["order"], ids["purchase"]), (ids["invoice"], ids["purchase_invoice"])
    hidden = {
        "order-intake": [f"/v1/orders/{o}" for o in orders],
        "fulfilment": [f"/v1/fulfilments/{o}" for o in orders]
        + [f"/v1/orders/{o}/help" for o in orders],
        "invoicing": [f"/v1/invoices/{i}" for i in invoices] + [f"/v1/disputes/{ids['dispute']}"],
        "monitoring": [f"/v1/orders/{o}/handoffs" for o in orders]
        + [f"/v1/console/chains/{o}" for o in orders],
    }
    lists = {
        "order-intake": ["/v1/orders", f"/v1/departments/{OUTSIDER}/budget"],
        "fulfilment": [f"/v1/departments/{OUTSIDER}/queue"],
        "invoicing": [
            "/v1/invoices",
            "/v1/disputes",
            f"/v1/statements/{OUTSIDER}?period={period}",
            "/v1/ledger/trial-balance",
        ],
        "monitoring": [
            f"/v1/scorecards?period={period}",
            "/v1/sla/policies",
            "/v1/console/overview",
        ],
    }
    outsider, secrets = auth(OUTSIDER), _secrets(stack)
    seen: list[str] = []
    for service, paths in hidden.items():
        for path in paths:
            answer = await stack.clients[service].get(path, headers=outsider)
            leaked = [s for s in secrets if s in answer.text and s not in path]
            if answer.status_code != 404 or leaked:
                seen.append(f"{service} {path}: {answer.status_code}, leaked {leaked}")
    for service, paths in lists.items():
        for path in paths:
            answer = await stack.clients[service].get(path, headers=outsider)
            leaked = [s for s in secrets if s in answer.text]
            if answer.status_code != 200 or leaked:
                seen.append(f"{service} {path}: {answer.status_code}, leaked {leaked}")

    # the trial balance shows PAINTSHOP its own cost centre's lines (none); ASSEMBLY its own,
    # not WHEELS's side of the same invoice; finance the whole ledger, which nets to zero
    invoicing = stack.clients["invoicing"]
    ledger = "/v1/ledger/trial-balance"
    assert (await invoicing.get(ledger, headers=outsider)).json()["accounts"] == []
    assembly = (await invoicing.get(ledger, headers=auth(REQUESTER))).json()
    assert {a["cost_centre"] for a in assembly["accounts"]} == {"CC-1600"}
    assert assembly["department"] == REQUESTER
    everything = (await invoicing.get(ledger, headers=FINANCE)).json()
    assert {"CC-1400", "CC-1600"} <= {a["cost_centre"] for a in everything["accounts"]}
    assert everything["balanced"] is True and everything["department"] is None

    # what PAINTSHOP does not see, its parties do (the ids above are really there to leak)
    mine = (await stack.clients["order-intake"].get("/v1/orders", headers=auth(REQUESTER))).json()
    assert set(orders) <= {o["order_id"] for o in mine["orders"]}
    handoffs = await stack.clients["monitoring"].get(
        f"/v1/orders/{ids['order']}/handoffs", headers=auth(SUPPLIER)
    )
    assert handoffs.status_code == 200 and ids["trace"] in handoffs.text
    assert seen == [], "\n".join(seen)
