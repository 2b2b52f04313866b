"""A client generated from the services' OpenAPI documents works as an integrator would use it.

`openapi-python-client` generates a Python package from each service's `/openapi.json` (read
from the running service, with no warning: no operation, response or model dropped),
and the packages, imported, walk one order across the four services on the real broker and
database: read the catalogue, place the order and read it (order intake), work it through the
supplier's queue and confirm its receipt (fulfilment), read its invoice (invoicing) and its
stages (monitoring).
"""

from __future__ import annotations

import importlib
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
from supplychain_devstack.services import ServiceProcess
from support.stacks import four_services  # noqa: F401

pytestmark = pytest.mark.integration

# the generated package of each service, as an integrator would name it
PACKAGES = {
    "order-intake": "intake_client",
    "fulfilment": "fulfilment_client",
    "invoicing": "invoicing_client",
    "monitoring": "monitoring_client",
}
REQUESTER, SUPPLIER, SKU = "ASSEMBLY", "WHEELS", "WHEEL-28"  # an item without components
T = TypeVar("T")


@pytest.fixture(scope="module")
def generated(
    four_services: dict[str, ServiceProcess],  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Path]:
    """The four client packages, importable. Generated in this process with what
    `openapi-python-client generate --meta none --fail-on-warning` runs (one import of the
    generator, not four), the generated code left unformatted (no post hooks)."""
    # imported here: it takes a second or two, which only this test should pay
    from openapi_python_client import generate
    from openapi_python_client.config import Config, ConfigFile, MetaType

    directory = tmp_path_factory.mktemp("generated-clients")
    for name, package in PACKAGES.items():
        config = Config.from_sources(
            ConfigFile(post_hooks=[]),
            MetaType.NONE,
            document_source=f"{four_services[name].url}/openapi.json",
            file_encoding="utf-8",
            overwrite=True,
            output_path=directory / package,
        )
        # a warning is an error of level warning: an operation, response or model left out
        problems = [f"{e.level}: {e.header} {e.detail}" for e in generate(config=config)]
        assert problems == [], f"{name}: {problems}"
    sys.path.insert(0, str(directory))
    try:
        yield directory
    finally:
        sys.path.remove(str(directory))
        for module in [m for m in sys.modules if m.split(".")[0] in PACKAGES.values()]:
            del sys.modules[module]


def _api(service: str, operation: str) -> ModuleType:
    """A generated operation module: `_api("order-intake", "orders.place_order")`."""
    return importlib.import_module(f"{PACKAGES[service]}.api.{operation}")


def _client(service: str, base_url: str, department: str) -> Any:
    """The generated client of a service, authenticated with a department's key; an answer
    the document does not list raises."""
    package = importlib.import_module(PACKAGES[service])
    return package.AuthenticatedClient(
        base_url=base_url,
        token=f"dev-{department.lower()}-1",
        raise_on_unexpected_status=True,
        timeout=10.0,
    )


def _eventually(read: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    """The first answer of `read` that is not None, asked again until it comes."""
    deadline = time.monotonic() + timeout
    while (answer := read()) is None:
        assert time.monotonic() < deadline, f"{what} not within {timeout} s"
        time.sleep(0.1)
    return answer


def test_a_generated_client_walks_an_order_across_the_four_services(
    generated: Path,
    four_services: dict[str, ServiceProcess],  # noqa: F811
) -> None:
    urls = {name: service.url for name, service in four_services.items()}
    intake = _client("order-intake", urls["order-intake"], REQUESTER)
    supplier = _client("fulfilment", urls["fulfilment"], SUPPLIER)
    requester = _client("fulfilment", urls["fulfilment"], REQUESTER)
    models = importlib.import_module(f"{PACKAGES['order-intake']}.models")

    catalogue = _api("order-intake", "catalogue.catalogue").sync(client=intake)
    item = next(item for item in catalogue if item.sku == SKU)
    assert isinstance(item, models.CatalogueItemOut)
    assert (item.supplier, item.components) == (SUPPLIER, [])

    body = models.PlaceOrder(
        requester=REQUESTER,
        supplier=SUPPLIER,
        lines=[models.OrderLineIn(sku=SKU, quantity=2)],
    )
    placed = _api("order-intake", "orders.place_order").sync_detailed(
        client=intake, body=body, idempotency_key=str(uuid.uuid4())
    )
    assert placed.status_code == 201, placed.content
    order = placed.parsed
    assert isinstance(order, models.OrderOut)
    read = _api("order-intake", "orders.get_order").sync(order.order_id, client=intake)
    assert (read.order_id, read.total, read.status) == (order.order_id, order.total, order.status)
    assert [(line.sku, line.quantity) for line in read.lines] == [(SKU, 2)]

    queue = _api("fulfilment", "queue.department_queue")
    _eventually(
        lambda: next(
            (
                w
                for w in queue.sync(SUPPLIER, client=supplier)
                if w["order_id"] == str(order.order_id)
            ),
            None,
        ),
        "the order in the supplier's queue",
    )
    command = _api("fulfilment", "fulfilments.supplier_command")
    action = importlib.import_module(f"{PACKAGES['fulfilment']}.models").SupplierCommandAction
    for step in (action.ACCEPT, action.START, action.SHIP):
        assert command.sync(order.order_id, step, client=supplier).order_id == order.order_id
    receipt = _api("fulfilment", "receipts.confirm_receipt").sync(order.order_id, client=requester)
    assert receipt.status.value == "delivered"

    invoicing = _client("invoicing", urls["invoicing"], REQUESTER)
    invoices = _api("invoicing", "invoices.list_invoices")
    listed = _eventually(
        lambda: next(
            (i for i in invoices.sync(client=invoicing) if i.order_id == order.order_id), None
        ),
        "the order's invoice",
    )
    invoice = _api("invoicing", "invoices.get_invoice").sync(listed.invoice_id, client=invoicing)
    assert (invoice.order_id, invoice.requester, invoice.supplier) == (
        order.order_id,
        REQUESTER,
        SUPPLIER,
    )
    assert invoice.total == order.total
    assert [(line.sku, line.quantity) for line in invoice.lines] == [(SKU, 2)]

    monitoring = _client("monitoring", urls["monitoring"], REQUESTER)
    handoffs = _api("monitoring", "handoffs.order_handoffs")

    def ended_stages() -> set[str] | None:
        answer = handoffs.sync_detailed(order.order_id, client=monitoring)
        if answer.status_code != 200:  # 404 until monitoring has read the order
            return None
        ended = {handoff.stage for handoff in answer.parsed if handoff.ended_at is not None}
        return ended if "delivery" in ended else None

    ended = _eventually(ended_stages, "the order's delivery in its stages")
    assert {"acceptance", "fulfilment", "delivery"} <= ended
