"""Each service's OpenAPI document is one a client generator takes whole, and its pages to read
it work offline.

The four apps are built as the services build them, with nothing started (no broker, no
database): the document and the pages come from the routes alone. That a generator makes a
client from each document with no warning, and that the client works, is
tests/integration/test_generated_client.py.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fulfilment.config import FulfilmentSettings
from fulfilment.main import create_app as fulfilment_app
from invoicing.config import InvoicingSettings
from invoicing.main import create_app as invoicing_app
from monitoring.config import MonitoringSettings
from monitoring.main import create_app as monitoring_app
from order_intake.config import OrderIntakeSettings
from order_intake.main import create_app as intake_app
from supplychain_kit.settings import ServiceSettings

NOWHERE = {
    "database_url": "postgresql://nobody@127.0.0.1:9/nothing",
    "kafka_bootstrap_servers": "127.0.0.1:9",
    "environment": "test",
}
APPS: dict[str, tuple[Callable[[Any], FastAPI], type[ServiceSettings]]] = {
    "order-intake": (intake_app, OrderIntakeSettings),
    "fulfilment": (fulfilment_app, FulfilmentSettings),
    "invoicing": (invoicing_app, InvoicingSettings),
    "monitoring": (monitoring_app, MonitoringSettings),
}


@pytest.fixture(scope="module")
def apps() -> dict[str, FastAPI]:
    return {name: create(settings(**NOWHERE)) for name, (create, settings) in APPS.items()}


@pytest.fixture(scope="module")
def documents(apps: dict[str, FastAPI]) -> dict[str, dict[str, Any]]:
    return {name: app.openapi() for name, app in apps.items()}


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [operation for item in document["paths"].values() for operation in item.values()]


def _repeated(values: list[str]) -> list[str]:
    return [value for value, count in Counter(values).items() if count > 1]


def test_operation_ids_are_the_route_functions_names(
    documents: dict[str, dict[str, Any]],
) -> None:
    for name, document in documents.items():
        ids = [operation["operationId"] for operation in _operations(document)]
        assert _repeated(ids) == [], name
        # FastAPI's default id adds the path and method: `place_order_v1_orders_post`
        assert [i for i in ids if re.search(r"_(get|post|put|delete|patch)$", i)] == [], name
    intake_ids = {operation["operationId"] for operation in _operations(documents["order-intake"])}
    assert {"place_order", "get_order", "catalogue", "define_department"} <= intake_ids


def test_every_model_is_one_schema_under_its_own_name(
    documents: dict[str, dict[str, Any]],
) -> None:
    for name, document in documents.items():
        schemas = document["components"]["schemas"]
        # `X-Input`/`X-Output`: a model split in two; `package__module__X`: two models titled X
        assert [s for s in schemas if s.endswith(("-Input", "-Output")) or "__" in s] == [], name
        assert _repeated([schema.get("title", key) for key, schema in schemas.items()]) == [], name
        # each model is named by its title, the name a generator gives its class
        assert [key for key, schema in schemas.items() if schema.get("title", key) != key] == []
    # a reference definition is taken and answered as one model: an admin puts a Department
    # and reads the same Department back in its history
    intake = documents["order-intake"]
    definition = intake["paths"]["/v1/admin/departments/{code}"]["put"]["requestBody"]
    assert definition["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Department"
    }
    assert "#/components/schemas/Department" in str(
        intake["components"]["schemas"]["DepartmentChange"]
    )


def test_a_body_a_route_may_go_without_is_documented_as_its_model(
    documents: dict[str, dict[str, Any]],
) -> None:
    optional = {
        (name, operation["operationId"]): media["schema"]
        for name, document in documents.items()
        for operation in _operations(document)
        if not operation.get("requestBody", {"required": True}).get("required")
        for media in operation["requestBody"]["content"].values()
    }
    # "the model or null" makes a generated client send its unset placeholder as the body
    assert [key for key, schema in optional.items() if "$ref" not in schema] == []
    assert optional[("fulfilment", "supplier_command")] == {
        "$ref": "#/components/schemas/CommandBody"
    }


async def test_a_null_body_is_refused_as_the_document_says(apps: dict[str, FastAPI]) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=apps["fulfilment"]), base_url="http://fulfilment"
    ) as client:
        answer = await client.post(
            f"/v1/fulfilments/{uuid.uuid4()}/accept",
            content=b"null",
            headers={"Content-Type": "application/json", "Authorization": "Bearer dev-wheels-1"},
        )
    assert answer.status_code == 422, answer.text
    assert [error["field"] for error in answer.json()["errors"]] == ["body"]


def test_operations_are_tagged_by_resource(documents: dict[str, dict[str, Any]]) -> None:
    tags = {
        name: {op["operationId"]: op.get("tags") for op in _operations(document)}
        for name, document in documents.items()
    }
    # one tag each: a generator makes a module per (first) tag
    untagged = [(n, i) for n, ops in tags.items() for i, t in ops.items() if len(t or []) != 1]
    assert untagged == []
    assert tags["order-intake"]["place_order"] == ["orders"]
    assert tags["order-intake"]["catalogue"] == ["catalogue"]
    assert tags["order-intake"]["departments"] == ["departments"]
    assert tags["order-intake"]["define_catalogue_item"] == ["admin"]
    assert tags["fulfilment"]["department_queue"] == ["queue"]
    assert tags["fulfilment"]["supplier_command"] == ["fulfilments"]
    assert tags["invoicing"]["get_invoice"] == ["invoices"]
    assert tags["invoicing"]["get_trial_balance"] == ["ledger"]
    assert tags["monitoring"]["order_handoffs"] == ["handoffs"]
    assert tags["monitoring"]["list_dead_letters"] == ["operations"]
    # the pages show the business first, the kit's operations last
    order = [tag["name"] for tag in documents["order-intake"]["tags"]]
    assert order == ["orders", "departments", "catalogue", "admin", "operations"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_documentation_pages_load_everything_from_the_service(
    apps: dict[str, FastAPI], page: str
) -> None:
    app = apps["order-intake"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://intake"
    ) as client:
        html = await client.get(page)
        assert html.status_code == 200
        assert html.headers["content-type"].startswith("text/html")
        assert re.findall(r"(?:https?:)?//[\w.-]+", html.text) == []
        assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
        assert any(asset.endswith(".js") for asset in assets), assets
        assert "/openapi.json" in html.text
        for asset in assets:
            answer = await client.get(asset)
            assert answer.status_code == 200, asset
            assert len(answer.content) > 1000, asset
        assert (await client.get("/openapi.json")).status_code == 200
