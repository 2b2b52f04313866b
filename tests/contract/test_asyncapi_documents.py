"""Each service's AsyncAPI document, generated in-process by its own app (`GET /asyncapi.json`),
is valid by the official AsyncAPI tools and says what a subscriber needs: every topic the
service publishes and consumes, one message per event type with its full payload schema,
headers, key, and the dead-letter topics with their error headers."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fulfilment.main import create_app as fulfilment_app
from invoicing.main import create_app as invoicing_app
from monitoring.main import create_app as monitoring_app
from order_intake.main import create_app as order_intake_app
from supplychain_contracts import topics
from supplychain_contracts.envelope import Envelope
from supplychain_contracts.reference import ReferenceEvent
from supplychain_contracts.registry import EVENTS_BY_TOPIC, MODEL_BY_EVENT_TYPE, event_type_of
from supplychain_contracts.schemas import published_schemas, schema_file_name
from supplychain_kit.runtime import ServiceRuntime

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "tests" / "contract" / "asyncapi-validator" / "validate.cjs"
VALIDATOR_MODULES = ROOT / ".tools" / "asyncapi-validator"
APPS: dict[str, Callable[[], FastAPI]] = {
    "order-intake": order_intake_app,
    "fulfilment": fulfilment_app,
    "invoicing": invoicing_app,
    "monitoring": monitoring_app,
}
DLQ_HEADERS = {value for name, value in vars(topics).items() if name.startswith("HEADER_DLQ_")}


class Served:
    def __init__(self, app: FastAPI) -> None:
        self.runtime: ServiceRuntime[Any] = app.state.runtime
        # no lifespan: the documents need no broker or database
        client = TestClient(app)
        self.json_response = client.get("/asyncapi.json")
        self.page_response = client.get("/asyncapi")
        self.doc: dict[str, Any] = self.json_response.json()


@pytest.fixture(scope="module")
def served() -> dict[str, Served]:
    return {name: Served(create_app()) for name, create_app in APPS.items()}


@pytest.fixture(scope="module")
def validator_modules() -> Path:
    """The official AsyncAPI parser and specification schemas (npm), installed by the
    Makefile target from the committed lock file; a failure to install fails the tests."""
    installed = subprocess.run(
        ["make", "--no-print-directory", "asyncapi-validator"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if installed.returncode != 0:
        pytest.fail(
            "could not install the AsyncAPI validator (`make asyncapi-validator`: npm ci of "
            f"@asyncapi/parser and @asyncapi/specs):\n{installed.stdout}\n{installed.stderr}"
        )
    return VALIDATOR_MODULES


def validate(modules: Path, files: list[Path]) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        ["node", str(VALIDATOR), str(modules), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode in (0, 1), f"validator crashed:\n{result.stdout}\n{result.stderr}"
    return result.returncode, json.loads(result.stdout)


def test_documents_are_valid_by_the_official_asyncapi_schema_and_parser(
    served: dict[str, Served], validator_modules: Path, tmp_path: Path
) -> None:
    files = []
    for name, service in served.items():
        assert service.json_response.status_code == 200
        assert service.doc["asyncapi"] == "3.0.0"
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(json.dumps(service.doc), encoding="utf-8")
    # and one document broken twice, to show the check can fail: an operation action 3.0
    # does not have, and a payload referring to a schema that is not there
    broken = copy.deepcopy(served["fulfilment"].doc)
    next(iter(broken["operations"].values()))["action"] = "publish"
    del broken["components"]["schemas"]["OrderLine"]
    files.append(tmp_path / "broken.json")
    files[-1].write_text(json.dumps(broken), encoding="utf-8")

    status, report = validate(validator_modules, files)

    *good, bad = (report[str(file)] for file in files)
    for file, entry in zip(files, good, strict=False):
        assert entry["schema_errors"] == [], (file.name, entry)
        assert entry["parser_errors"] == [], (file.name, entry)
        assert entry["parser_warnings"] == [], (file.name, entry)
    assert any("action" in error for error in bad["schema_errors"]), bad
    assert any("OrderLine" in error for error in bad["parser_errors"]), bad
    assert status == 1


def test_every_topic_published_or_consumed_is_a_channel_and_an_operation(
    served: dict[str, Served],
) -> None:
    for name, service in served.items():
        runtime, doc = service.runtime, service.doc
        consumes = set(runtime.consumes) if runtime.apply is not None else set()
        dead_letters = {topics.dead_letter_topic(topic) for topic in consumes}
        assert runtime.produces, name
        assert set(doc["channels"]) == set(runtime.produces) | consumes | dead_letters, name
        actions = {(op["action"], op["channel"]["$ref"]) for op in doc["operations"].values()}
        assert actions == (
            {("send", f"#/channels/{t}") for t in (*runtime.produces, *dead_letters)}
            | {("receive", f"#/channels/{t}") for t in consumes}
        ), name
        for operation in doc["operations"].values():
            if operation["action"] == "receive":
                group = operation["bindings"]["kafka"]["groupId"]["enum"]
                assert group == [runtime.settings.consumer_group or runtime.settings.service_name]
        for address, channel in doc["channels"].items():
            assert channel["address"] == address
            assert channel["bindings"]["kafka"]["topic"] == address
        assert "correlationId" not in json.dumps(doc), name


def test_one_message_per_event_type_with_its_full_payload_schema(
    served: dict[str, Served],
) -> None:
    published = published_schemas()
    doc = served["monitoring"].doc  # consumes every topic
    assert set(topics.ALL_TOPICS) <= set(doc["channels"])
    schemas = doc["components"]["schemas"]
    for topic in topics.ALL_TOPICS:
        channel = doc["channels"][topic]
        assert set(channel["messages"]) == {event_type_of(m) for m in EVENTS_BY_TOPIC[topic]}
        for event_type, ref in channel["messages"].items():
            message = resolve(doc, ref)
            model = MODEL_BY_EVENT_TYPE[event_type]
            payload = inline(message["payload"], schemas)
            expected = inline(published[schema_file_name(model)], published_defs(published, model))
            assert payload == as_asyncapi_dialect(expected), event_type
            assert {"event_id", "event_type", "schema_version", "occurred_at", "producer"} <= set(
                payload["properties"]
            )


def test_messages_name_their_headers_and_key(served: dict[str, Served]) -> None:
    doc = served["monitoring"].doc
    for name, message in doc["components"]["messages"].items():
        headers = message["headers"]["properties"]
        assert headers["traceparent"]["pattern"].startswith("^[0-9a-f]{2}-[0-9a-f]{32}")
        key = message["bindings"]["kafka"]["key"]
        assert key["type"] == "string"
        if name.startswith("DeadLetter."):
            assert set(headers) >= DLQ_HEADERS, name
            assert set(message["headers"]["required"]) == DLQ_HEADERS
            assert "event_type" in headers
            continue
        assert headers["event_type"]["const"] == name
        assert message["headers"]["required"] == ["event_type"]
        model = MODEL_BY_EVENT_TYPE[name]
        if issubclass(model, Envelope):
            assert key == {
                "format": "uuid",
                "type": "string",
                "description": "the event's `order_id`",
            }
        elif issubclass(model, ReferenceEvent):
            assert key["description"] == "the event's `entity_key`"
    assert len(DLQ_HEADERS) == 7


def test_dead_letter_topics_carry_what_their_source_topic_carries(
    served: dict[str, Served],
) -> None:
    doc = served["invoicing"].doc
    message = doc["components"]["messages"][f"DeadLetter.{topics.SLA}"]
    refs = [option.get("$ref") for option in message["payload"]["anyOf"]]
    assert refs[:-1] == [f"#/components/schemas/{m.__name__}" for m in EVENTS_BY_TOPIC[topics.SLA]]
    assert "$ref" not in message["payload"]["anyOf"][-1]  # and anything that failed to parse


def test_the_page_lists_topics_messages_and_fields_without_loading_anything(
    served: dict[str, Served],
) -> None:
    for name, service in served.items():
        response = service.page_response
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        page = response.text
        for address in service.doc["channels"]:
            assert f"<code>{address}</code>" in page, (name, address)
        for message in service.doc["components"]["messages"]:
            assert f'id="message-{message}"' in page, (name, message)
        for field in ("event_id", "order_id", "traceparent", "causation_id"):
            assert f"<code>{field}</code>" in page, (name, field)
        assert "<script" not in page and "src=" not in page and "<link" not in page
    intake = served["order-intake"].page_response.text
    assert "publishes" in intake and "consumes (group <code>order-intake</code>)" in intake


# --- schema helpers ---------------------------------------------------------------------


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    target: Any = doc
    for part in node["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    return dict(target)


def inline(schema: Any, defs: dict[str, Any]) -> Any:
    """The schema with every reference replaced by what it refers to (none are recursive)."""
    if isinstance(schema, list):
        return [inline(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return {**inline(defs[name], defs), **inline(rest, defs)}
    return {k: inline(v, defs) for k, v in schema.items() if k != "$defs"}


def published_defs(published: dict[str, Any], model: type) -> dict[str, Any]:
    schema = published[schema_file_name(model)]
    return dict(schema.get("$defs", {}))


def as_asyncapi_dialect(schema: Any) -> Any:
    """OpenAPI's discriminator object becomes AsyncAPI's discriminator property name."""
    if isinstance(schema, list):
        return [as_asyncapi_dialect(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {k: as_asyncapi_dialect(v) for k, v in schema.items()}
    if isinstance(schema.get("discriminator"), dict):
        converted["discriminator"] = schema["discriminator"]["propertyName"]
    return converted
