"""The four services in process on one fresh database, without a broker, with two orders
taken through every service the way the consumers would: what the role and party tests
(test_roles_*.py, test_party_*.py) read.

- an order ASSEMBLY places with WHEELS: accepted, a help request asked back and answered,
  shipped, received, rated, invoiced, its invoice disputed by ASSEMBLY and the dispute
  rejected by WHEELS;
- an employee's purchase in the employee shop (ASSEMBLY's employee E-1001): delivered and
  invoiced (a payroll deduction).

PAINTSHOP is party to neither. Events travel as the consumers would carry them: each app's
outbox is read and every event applied, once, to the apps that consume its topic.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, AsyncExitStack, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from fulfilment.config import FulfilmentSettings
from fulfilment.main import create_app as fulfilment_app
from invoicing.config import InvoicingSettings
from invoicing.main import create_app as invoicing_app
from monitoring.config import MonitoringSettings
from monitoring.main import create_app as monitoring_app
from opentelemetry.trace import SpanKind
from order_intake.config import OrderIntakeSettings
from order_intake.main import create_app as intake_app
from supplychain_contracts.company import sample_company
from supplychain_contracts.registry import topic_for
from supplychain_kit.telemetry import continue_trace

from support import auth, reference_events
from support.service import apply_events, outbox_events

REQUESTER, SUPPLIER, OUTSIDER = "ASSEMBLY", "WHEELS", "PAINTSHOP"
SHOP, EMPLOYEE = "EMPLOYEE_SHOP", "E-1001"
FINANCE, ANALYST, OPERATOR, ADMIN = (
    {"Authorization": f"Bearer dev-{role}-1"}
    for role in ("finance", "analyst", "operator", "admin")
)
SERVICES = ("order-intake", "fulfilment", "invoicing", "monitoring")
WORK = ("accept", "start", "ship")  # a supplier's steps, from placed to shipped
NO_BROKER = "127.0.0.1:9"  # nothing listens: the apps run without a broker


def _apps(database_url: str) -> dict[str, FastAPI]:
    common: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": NO_BROKER,
        "environment": "test",
    }
    return {
        "order-intake": intake_app(OrderIntakeSettings(**common)),
        "fulfilment": fulfilment_app(FulfilmentSettings(**common)),
        "invoicing": invoicing_app(InvoicingSettings(**common)),
        "monitoring": monitoring_app(MonitoringSettings(**common)),
    }


@dataclass
class Stack:
    """The apps, a client of each, and what the seed made (ids as strings)."""

    apps: dict[str, FastAPI]
    clients: dict[str, httpx.AsyncClient]
    ids: dict[str, str] = field(default_factory=dict)
    forwarded: set[uuid.UUID] = field(default_factory=set)
    traces: dict[uuid.UUID, str] = field(default_factory=dict)  # root order → its trace

    def settings(self, service: str) -> Any:
        return self.apps[service].state.runtime.settings

    async def forward(self) -> None:
        """Carry every event the apps' outboxes hold (and the consumers have not had yet) to
        each app consuming its topic, until no app writes a new one."""
        while True:
            pending = []
            for app in self.apps.values():
                async with app.state.runtime.pool.acquire() as conn:
                    pending += [
                        e for e in await outbox_events(conn) if e.event_id not in self.forwarded
                    ]
            if not pending:
                return
            for event in pending:
                self.forwarded.add(event.event_id)
                for app in self.apps.values():
                    runtime = app.state.runtime
                    if topic_for(event) in runtime.consumes:
                        with self._trace_of(event):
                            await apply_events(runtime.pool, runtime.apply, event)

    def _trace_of(self, event: Any) -> AbstractContextManager[Any]:
        """The order's trace, as the record's traceparent header carries it to a consumer
        (one trace per root order; unsampled: carried on, nothing records)."""
        root = getattr(event, "root_order_id", None)
        if root is None:
            return nullcontext()
        trace_id = self.traces.setdefault(root, uuid.uuid4().hex)
        traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-00"
        return continue_trace("party seed", {"traceparent": traceparent}, kind=SpanKind.CONSUMER)

    async def call(self, service: str, method: str, path: str, department: str, **kw: Any) -> Any:
        """A call of the seed, which must succeed; then the events it made travel."""
        answer = await self.clients[service].request(method, path, headers=auth(department), **kw)
        assert answer.status_code < 300, (method, path, answer.status_code, answer.text)
        await self.forward()
        return answer.json() if answer.content else {}


@asynccontextmanager
async def seeded_stack(database_url: str) -> AsyncIterator[Stack]:
    apps = _apps(database_url)
    async with AsyncExitStack() as running:
        clients = {}
        for name, app in apps.items():
            await running.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients[name] = await running.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url=f"http://{name}", timeout=30)
            )
        stack = Stack(apps=apps, clients=clients)
        for name in ("fulfilment", "invoicing", "monitoring"):  # intake owns the company
            runtime = apps[name].state.runtime
            await apply_events(runtime.pool, runtime.apply, *reference_events(sample_company()))
        await stack.forward()
        await _seed(stack)
        yield stack


async def _seed(stack: Stack) -> None:
    ids = stack.ids
    ids["order"] = order = await _order(stack, supplier=SUPPLIER, sku="WHEEL-28", quantity=2)
    ids["purchase"] = purchase = await _order(
        stack, supplier=SHOP, sku="SHOP-HELMET", quantity=1, employee_id=EMPLOYEE
    )
    for action in ("accept", "start"):
        await stack.call("fulfilment", "POST", f"/v1/fulfilments/{order}/{action}", SUPPLIER)
    asked = {"subject": "colour of the rims", "message": "black, please"}
    help_request = await stack.call(
        "fulfilment", "POST", f"/v1/orders/{order}/help", REQUESTER, json=asked
    )
    ids["help_event"] = str(help_request["event_id"])
    help_steps = f"/v1/orders/{order}/help/{ids['help_event']}"
    steps: list[tuple[str, str, str, dict[str, Any] | None]] = [
        ("fulfilment", f"{help_steps}/awaiting-requester", SUPPLIER, {"question": "matt?"}),
        ("fulfilment", f"{help_steps}/answer", REQUESTER, {"answer": "matt"}),
        ("fulfilment", f"/v1/fulfilments/{order}/ship", SUPPLIER, None),
        *(("fulfilment", f"/v1/fulfilments/{purchase}/{a}", SHOP, None) for a in WORK),
        ("fulfilment", f"/v1/orders/{order}/receipt", REQUESTER, None),
        ("fulfilment", f"/v1/orders/{purchase}/receipt", REQUESTER, None),
        ("fulfilment", f"/v1/orders/{order}/feedback", REQUESTER, {"rating": 4, "comment": "ok"}),
    ]
    for service, path, department, body in steps:
        await stack.call(service, "POST", path, department, json=body)
    invoices = await stack.call("invoicing", "GET", "/v1/invoices", REQUESTER)
    by_order = {i["order_id"]: i["invoice_id"] for i in invoices}
    ids["invoice"], ids["purchase_invoice"] = by_order[order], by_order[purchase]
    disputed = {"amount": "5.00", "reason": "a scratched rim"}
    dispute = await stack.call(
        "invoicing", "POST", f"/v1/invoices/{ids['invoice']}/disputes", REQUESTER, json=disputed
    )
    ids["dispute"] = str(dispute["dispute_id"])
    rejected = {"reason": "it left us unscratched"}
    await stack.call(
        "invoicing", "POST", f"/v1/disputes/{ids['dispute']}/reject", SUPPLIER, json=rejected
    )
    for name, order_id in (("trace", order), ("purchase_trace", purchase)):
        stages = await stack.call("monitoring", "GET", f"/v1/orders/{order_id}/handoffs", REQUESTER)
        ids[name] = next(stage["trace_id"] for stage in stages if stage["trace_id"])
    ids["period"] = datetime.now(UTC).strftime("%Y-%m")


async def _order(stack: Stack, **body: Any) -> str:
    answer = await stack.clients["order-intake"].post(
        "/v1/orders",
        json={
            "requester": REQUESTER,
            "supplier": body.pop("supplier"),
            "lines": [{"sku": body.pop("sku"), "quantity": body.pop("quantity")}],
            **body,
        },
        headers={**auth(REQUESTER), "Idempotency-Key": f"party-{uuid.uuid4()}"},
    )
    assert answer.status_code == 201, answer.text
    await stack.forward()
    return str(answer.json()["order_id"])
