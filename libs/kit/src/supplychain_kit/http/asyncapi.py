"""The AsyncAPI 3.0 document of a service: every topic it publishes and consumes, from the
contracts alone (EVENTS_BY_TOPIC and the event models), so a subscriber can generate a client.

One channel per topic and per dead-letter topic; one message per event type with its full
payload schema (envelope included, shared parts under `components/schemas`), its headers
(`event_type`, `traceparent`) and its Kafka key. A service receives the topics it consumes,
sends the topics it publishes, and sends `<topic>.dlq` for each topic it consumes (the
reliable consumer dead-letters there, with the error in headers).

AsyncAPI 3.0.0 rather than 2.6.0: it is the current version, the official parser and the
Modelina code generator read it, and its separate operations say plainly which side of a
topic a service is on.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any, Final

from pydantic.json_schema import models_json_schema
from supplychain_contracts import topics
from supplychain_contracts.envelope import Envelope, Event
from supplychain_contracts.reference import ReferenceEvent
from supplychain_contracts.registry import EVENTS_BY_TOPIC, all_event_models, event_type_of

ASYNCAPI_VERSION: Final = "3.0.0"
KAFKA_BINDING_VERSION: Final = "0.5.0"
SCHEMAS: Final = "#/components/schemas/"
# W3C Trace Context: version-trace_id-parent_id-flags
TRACEPARENT_PATTERN: Final = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"

# The field a model's Kafka key (`message_key()`) is the value of, where it is one field.
KEY_FIELDS: Final[tuple[tuple[type[Event], str], ...]] = (
    (Envelope, "order_id"),
    (ReferenceEvent, "entity_key"),
)

DLQ_HEADERS: Final[dict[str, str]] = {
    topics.HEADER_DLQ_ERROR: "why it failed (the exception text, at most 2000 characters)",
    topics.HEADER_DLQ_ERROR_TYPE: "the exception class, e.g. ValidationError",
    topics.HEADER_DLQ_SOURCE_TOPIC: "the topic the record was consumed from",
    topics.HEADER_DLQ_SOURCE_PARTITION: "its partition there (decimal)",
    topics.HEADER_DLQ_SOURCE_OFFSET: "its offset there (decimal)",
    topics.HEADER_DLQ_CONSUMER_GROUP: "the consumer group that gave up on it",
    topics.HEADER_DLQ_ATTEMPTS: "how many times it was tried (decimal)",
}

DESCRIPTION: Final = """\
The Kafka topics {service} publishes and consumes.

Every record's value is one JSON event. Order events carry one envelope first: `event_id`
(UUID, the idempotency key: a record may be delivered more than once), `event_type`,
`schema_version`, `occurred_at` (UTC), `order_id`, `root_order_id` (all orders of a
production chain share it), `causation_id` (the event that caused it) and `producer`,
then their typed fields. Reference events carry `entity_key` instead of order ids.

Records are keyed by `order_id` (reference events by `entity_key`), so the events of one
order keep their order. Headers: `event_type` (read it to skip a type you do not know
without parsing the value) and the W3C `traceparent` of the order's trace.

Contracts evolve additively: new fields and new event types appear on a topic without
notice, so a subscriber ignores unknown fields and skips unknown event types. The Python
package `supplychain-contracts` does both in `parse_event(topic, value, headers)` and
carries the JSON Schemas. A breaking change is a new event type or a new `.v2` topic.

A record a consumer cannot apply after retries goes, as received, to `<topic>.dlq` with
the error in `dlq_*` headers."""


def document(
    *,
    service: str,
    publishes: Sequence[str],
    consumes: Sequence[str],
    consumer_group: str,
    bootstrap_servers: str | None = None,
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of one service (a new dict on every call)."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    def add(topic: str, action: str, channel_messages: dict[str, Any], summary: str) -> None:
        channels.setdefault(topic, _channel(topic, channel_messages))
        operation: dict[str, Any] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{topic}"},
            "summary": summary,
            "messages": [
                {"$ref": f"#/channels/{topic}/messages/{name}"} for name in channel_messages
            ],
        }
        if action == "receive":
            operation["bindings"] = {
                "kafka": {
                    "groupId": {"type": "string", "enum": [consumer_group]},
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            }
        operations[f"{action}-{topic}"] = operation

    for topic in dict.fromkeys([*publishes, *consumes]):
        event_messages = _event_messages(topic)
        messages.update(event_messages)
        refs = {name: {"$ref": f"#/components/messages/{name}"} for name in event_messages}
        if topic in publishes:
            add(topic, "send", refs, f"{service} publishes these events (transactional outbox)")
        if topic in consumes:
            add(topic, "receive", refs, f"{service} applies these events exactly once")
    for topic in dict.fromkeys(consumes):
        dead_letter = topics.dead_letter_topic(topic)
        name = f"DeadLetter.{topic}"
        messages[name] = _dead_letter_message(topic)
        add(
            dead_letter,
            "send",
            {name: {"$ref": f"#/components/messages/{name}"}},
            f"{service} dead-letters here what it could not apply from {topic}",
        )

    doc: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": service,
            "version": _contracts_version(),
            "description": DESCRIPTION.format(service=service),
        },
        "defaultContentType": "application/json",
    }
    if bootstrap_servers:
        doc["servers"] = {
            "kafka": {
                "host": bootstrap_servers.split(",")[0].strip(),
                "protocol": "kafka",
                "description": f"bootstrap servers: {bootstrap_servers}",
            }
        }
    doc["channels"] = channels
    doc["operations"] = operations
    doc["components"] = {"messages": messages, "schemas": copy.deepcopy(_schemas())}
    return doc


def _channel(topic: str, channel_messages: dict[str, Any]) -> dict[str, Any]:
    source = topic.removesuffix(topics.DLQ_SUFFIX)
    if source != topic:
        description = f"Records of {source} that a consumer could not apply, as received."
    else:
        description = "Events: " + ", ".join(channel_messages)
    binding: dict[str, Any] = {"topic": topic, "bindingVersion": KAFKA_BINDING_VERSION}
    if topic in topics.COMPACTED_TOPICS:
        binding["topicConfiguration"] = {"cleanup.policy": ["compact"]}
    return {
        "address": topic,
        "title": topic,
        "description": description,
        "messages": channel_messages,
        "bindings": {"kafka": binding},
    }


def _event_messages(topic: str) -> dict[str, Any]:
    return {event_type_of(model): _event_message(model) for model in EVENTS_BY_TOPIC[topic]}


def _event_message(model: type[Event]) -> dict[str, Any]:
    event_type = event_type_of(model)
    doc = inspect.getdoc(model)
    own_doc = doc if doc and model.__doc__ else None  # not a base class's docstring
    message: dict[str, Any] = {
        "name": event_type,
        "title": event_type,
        "summary": (own_doc or event_type).splitlines()[0],
        "contentType": "application/json",
        "headers": _headers(
            {
                topics.HEADER_EVENT_TYPE: {
                    "type": "string",
                    "const": event_type,
                    "description": "the event's type, as in the value",
                },
                topics.HEADER_REDRIVEN_FROM: {
                    "type": "string",
                    "description": "only on a record an operator republished from the "
                    "dead-letter topic: `<dlq topic>:<partition>:<offset>`",
                },
            },
            required=[topics.HEADER_EVENT_TYPE],
        ),
        "payload": {"$ref": f"{SCHEMAS}{model.__name__}"},
        "bindings": {"kafka": {"key": key_schema(model), "bindingVersion": KAFKA_BINDING_VERSION}},
    }
    if own_doc:
        message["description"] = own_doc
    return message


def _dead_letter_message(topic: str) -> dict[str, Any]:
    payloads = [{"$ref": f"{SCHEMAS}{model.__name__}"} for model in EVENTS_BY_TOPIC[topic]]
    payloads.append({"description": "a value that is no valid event (see dlq_error)"})
    dlq_headers = {
        name: {"type": "string", "description": text} for name, text in DLQ_HEADERS.items()
    }
    return {
        "name": f"DeadLetter.{topic}",
        "title": f"Dead letter of {topic}",
        "summary": f"A record of {topic} that failed after retries, with the error in headers",
        "description": "Value, key and headers as received (the event's own `event_type` and "
        "`traceparent` included), plus the `dlq_*` headers. Redriving republishes the value to "
        f"{topic}.",
        "contentType": "application/json",
        "headers": _headers(
            {
                topics.HEADER_EVENT_TYPE: {
                    "type": "string",
                    "description": "the event's type as received, when the record had one",
                },
                **dlq_headers,
            },
            required=list(DLQ_HEADERS),
        ),
        "payload": {"anyOf": payloads, "description": "the record's value as received"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": f"the key as received on {topic}"},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _headers(specific: Mapping[str, Any], *, required: list[str]) -> dict[str, Any]:
    properties = {
        **specific,
        topics.HEADER_TRACEPARENT: {
            "type": "string",
            "pattern": TRACEPARENT_PATTERN,
            "description": "W3C Trace Context of the order's trace: continue it to join the "
            "chain's one trace (set whenever the event was produced inside a trace)",
        },
        topics.HEADER_TRACESTATE: {
            "type": "string",
            "description": "W3C Trace Context vendor state, when there is any",
        },
    }
    return {
        "type": "object",
        "description": "Kafka record headers; their values are UTF-8 text.",
        "properties": properties,
        "required": required,
    }


def key_schema(model: type[Event]) -> dict[str, Any]:
    """The schema of the record key an event is published with (`message_key()`)."""
    for base, field in KEY_FIELDS:
        if issubclass(model, base) and model.message_key is base.message_key:
            schema = dict(_schemas()[model.__name__]["properties"][field])
            schema.pop("title", None)
            schema["description"] = f"the event's `{field}`"
            return schema
    return {
        "type": "string",
        "description": inspect.getdoc(model.message_key) or "the event's message_key()",
    }


@functools.cache
def _schemas() -> dict[str, Any]:
    """Every event model's payload schema and the parts they share, referenced from
    `components/schemas` (the same schemas as the published JSON Schema files)."""
    _, top = models_json_schema(
        [(model, "serialization") for model in all_event_models()],
        ref_template=SCHEMAS + "{model}",
    )
    schemas: dict[str, Any] = _as_asyncapi_schema(top.get("$defs", {}))
    return schemas


def _as_asyncapi_schema(node: Any) -> Any:
    """JSON Schema as pydantic writes it, in the AsyncAPI Schema Object's dialect: its
    `discriminator` is the property's name, not OpenAPI's {propertyName, mapping} object."""
    if isinstance(node, list):
        return [_as_asyncapi_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _as_asyncapi_schema(value) for key, value in node.items()}
    discriminator = node.get("discriminator")
    if isinstance(discriminator, dict) and "propertyName" in discriminator:
        converted["discriminator"] = discriminator["propertyName"]
    return converted


def _contracts_version() -> str:
    try:
        return metadata.version("supplychain-contracts")
    except metadata.PackageNotFoundError:
        return "0.0.0"
