"""Who reads the handoffs of a production chain (issue 23): the parties of an order and of
every order above it in its chain, each of which waits on it; nobody beside or below it.
Monitoring's store on the real PostgreSQL, its orders recorded as the consumer records them.

RETAIL_OPS orders a bike from ASSEMBLY (the root); ASSEMBLY raises wheels from WHEELS and a
frame from FRAMES, which raises tubes from METALWORKS.
"""

from __future__ import annotations

import uuid

import pytest
from monitoring.timeline import store
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Silent
from supplychain_contracts import OrderLine, OrderPlaced
from supplychain_kit.http.auth import EVERY_ROW, NO_PARTY, Visibility
from support.events import order_placed
from support.service import ServicePool, apply_events

DEPARTMENTS = ("RETAIL_OPS", "ASSEMBLY", "WHEELS", "FRAMES", "METALWORKS", "PAINTSHOP")
LINE = (OrderLine(sku="PART", quantity=1, unit_price="1.00"),)


def placed(requester: str, supplier: str, parent: OrderPlaced | None = None) -> OrderPlaced:
    return order_placed(
        parent=parent,
        producer="order-intake" if parent is None else "fulfilment",
        requester=requester,
        supplier=supplier,
        lines=LINE,
    )


ROOT = placed("RETAIL_OPS", "ASSEMBLY")
WHEELS = placed("ASSEMBLY", "WHEELS", ROOT)
FRAME = placed("ASSEMBLY", "FRAMES", ROOT)
TUBES = placed("FRAMES", "METALWORKS", FRAME)


@pytest.mark.parametrize(
    ("order", "readers"),
    [
        (ROOT, {"RETAIL_OPS", "ASSEMBLY"}),
        (WHEELS, {"RETAIL_OPS", "ASSEMBLY", "WHEELS"}),
        (FRAME, {"RETAIL_OPS", "ASSEMBLY", "FRAMES"}),
        (TUBES, {"RETAIL_OPS", "ASSEMBLY", "FRAMES", "METALWORKS"}),
    ],
    ids=["root", "wheels", "frame", "tubes"],
)
async def test_an_order_is_read_by_its_parties_and_those_of_the_orders_above_it(
    service_pool: ServicePool, order: OrderPlaced, readers: set[str]
) -> None:
    pool = await service_pool("monitoring")
    await apply_events(pool, event_applier(Silent()), ROOT, WHEELS, FRAME, TUBES)
    async with pool.acquire() as conn:
        seen = {
            department
            for department in DEPARTMENTS
            if await store.order_visible(conn, order.order_id, visible=Visibility(department))
        }
        assert seen == readers
        assert await store.order_visible(conn, order.order_id, visible=EVERY_ROW)  # analyst
        nobody = Visibility(NO_PARTY)  # a role the read is not for
        assert not await store.order_visible(conn, order.order_id, visible=nobody)
        assert not await store.order_visible(conn, uuid.uuid4(), visible=EVERY_ROW)
