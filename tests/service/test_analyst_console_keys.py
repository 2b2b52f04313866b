"""The console follows the rules of the key it is opened with (issue 23, item 2), in process on
the real PostgreSQL: a department sees the chains below the orders it is party to (404 for
another chain), the running stages and open disputes it is party to, and the reasons people
wrote of its own orders; an analyst, operator or admin sees every chain without those texts;
finance gets 403; nobody sees an employee's id. Opened without a key (test environment) it
shows everything, as `make run` opens it.

The chain: RETAIL_OPS orders from ASSEMBLY (root), ASSEMBLY from FRAMES (sub), FRAMES from
METALWORKS (sub-sub); an employee of MARKETING buys from FACILITIES; PAINTSHOP is party to none.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from monitoring.config import MonitoringSettings
from monitoring.main import create_app
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Emitting
from supplychain_contracts import (
    CancellationRefused,
    DisputeOpened,
    OrderCancelled,
    OrderPlaced,
    follow_up,
)
from support import auth
from support.events import order_placed
from support.service import apply_events, serving
from support.waits import eventually

EMPLOYEE = "E-4711"
DISPUTED, REFUSED = "the frame was scratched", "frames already cut"
OVERVIEW_PATHS = ("/v1/console/overview", "/console", "/console/fragments/overview")


@pytest.fixture
async def console(database: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = MonitoringSettings(
        database_url=database.new_database(),
        kafka_bootstrap_servers="127.0.0.1:9",  # nothing listens: no broker needed
        environment="test",
    )
    app = create_app(settings)
    async with serving(app) as client:
        yield app, client


def order(
    requester: str, supplier: str, at: datetime, *, parent: OrderPlaced | None = None, **extra: Any
) -> OrderPlaced:
    return order_placed(
        parent=parent,
        occurred_at=at,
        producer="order-intake" if parent is None else "fulfilment",
        supplier=supplier,
        requester=requester,
        sku="X",
        **extra,
    )


async def test_each_key_sees_the_console_it_may(console: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = console
    now = datetime.now(UTC)
    root = order("RETAIL_OPS", "ASSEMBLY", now - timedelta(seconds=30))
    sub = order("ASSEMBLY", "FRAMES", now - timedelta(seconds=29), parent=root)
    subsub = order("FRAMES", "METALWORKS", now - timedelta(seconds=28), parent=sub)
    bought = order("MARKETING", "FACILITIES", now - timedelta(seconds=20), employee_id=EMPLOYEE)
    await apply_events(
        app.state.runtime.pool,
        event_applier(Emitting()),
        root,
        sub,
        subsub,
        bought,
        follow_up(sub, OrderCancelled, producer="order-intake", reason="no longer needed"),
        follow_up(sub, CancellationRefused, producer="fulfilment", reason=REFUSED),
        follow_up(
            root,
            DisputeOpened,
            producer="invoicing",
            dispute_id=uuid.uuid4(),
            invoice_id=uuid.uuid4(),
            amount="10.00",
            currency="EUR",
            reason=DISPUTED,
        ),
    )

    async def overview(key: str | None) -> dict[str, Any]:
        answer = await client.get("/v1/console/overview", headers=_bearer(key))
        assert answer.status_code == 200, (key, answer.text)
        assert EMPLOYEE not in answer.text
        return dict(answer.json())

    async def chain(key: str | None, of: OrderPlaced) -> dict[str, Any] | None:
        answer = await client.get(f"/v1/console/chains/{of.order_id}", headers=_bearer(key))
        assert answer.status_code in (200, 404), answer.text
        assert EMPLOYEE not in answer.text
        return dict(answer.json()) if answer.status_code == 200 else None

    def heads(view: dict[str, Any]) -> set[str]:
        return {c["order_id"] for c in view["chains"]}

    def bars_of(view: dict[str, Any] | None) -> set[str]:
        assert view is not None
        return {b["order_id"] for b in view["bars"]}

    def notes_of(view: dict[str, Any] | None) -> list[tuple[str, str]]:
        assert view is not None
        return [(n["label"], n["reason"]) for n in view["notes"]]

    ids = {o: str(o.order_id) for o in (root, sub, subsub, bought)}
    everyone = {ids[root], ids[bought]}

    # without a key, in the test environment: everything, as make run opens it
    keyless = await overview(None)
    assert heads(keyless) == everyone
    assert [d["reason"] for d in keyless["disputes"]] == [DISPUTED]
    assert ("cancellation refused", REFUSED) in notes_of(await chain(None, subsub))

    # the root's requester: its chain all the way down, the texts of its own orders only
    retail = await overview("RETAIL_OPS")
    assert heads(retail) == {ids[root]}
    assert [d["reason"] for d in retail["disputes"]] == [DISPUTED]
    assert bars_of(await chain("RETAIL_OPS", subsub)) == {ids[root], ids[sub], ids[subsub]}
    assert ("cancellation refused", "") in notes_of(await chain("RETAIL_OPS", root))

    # a party of the sub-order sees its reason
    assert heads(await overview("ASSEMBLY")) == {ids[root]}
    assert ("cancellation refused", REFUSED) in notes_of(await chain("ASSEMBLY", sub))

    # FRAMES from its sub-order down: the root above it is no chain of its
    frames = await overview("FRAMES")
    assert heads(frames) == {ids[sub]} and frames["disputes"] == []
    assert await chain("FRAMES", root) is None
    assert bars_of(await chain("FRAMES", subsub)) == {ids[sub], ids[subsub]}
    assert {s["order_id"] for s in frames["sla"]["open_stages"]} <= {ids[sub], ids[subsub]}

    metalworks = await overview("METALWORKS")
    assert heads(metalworks) == {ids[subsub]}
    assert await chain("METALWORKS", sub) is None
    assert bars_of(await chain("METALWORKS", subsub)) == {ids[subsub]}

    # an outsider: nothing of any of these orders, but the company-wide counts
    outsider = await overview("PAINTSHOP")
    assert outsider["chains"] == [] and outsider["disputes"] == []
    assert outsider["sla"]["open_stages"] == []
    assert outsider["scorecards"]  # the company's counts, the same a keyless read has (the
    # SLA clocks of these overdue stages may fire between two reads: compare reads in a row)

    async def same_counts() -> bool:
        return bool(
            (await overview("PAINTSHOP"))["scorecards"] == (await overview(None))["scorecards"]
        )

    await eventually(same_counts, what="an outsider's scorecards are the company's")
    for path in OVERVIEW_PATHS:
        shown = (await client.get(path, headers=_bearer("PAINTSHOP"))).text
        assert not [i for i in ids.values() if i in shown], path
    for each in (root, sub, subsub, bought):
        assert await chain("PAINTSHOP", each) is None

    # staff: every chain, no text anyone wrote
    for role in ("analyst", "operator", "admin"):
        staff = await overview(role)
        assert heads(staff) == everyone, role
        assert [d["reason"] for d in staff["disputes"]] == [None]
        assert ("cancellation refused", "") in notes_of(await chain(role, root))
        assert DISPUTED not in (await client.get("/console", headers=_bearer(role))).text
    for path in (*OVERVIEW_PATHS, f"/v1/console/chains/{root.order_id}"):
        assert (await client.get(path, headers=_bearer("finance"))).status_code == 403


def _bearer(key: str | None) -> dict[str, str]:
    return {} if key is None else auth(key)
