"""The AsyncAPI document as a page to read (`GET /asyncapi`): rendered on the server from the
same document `/asyncapi.json` serves, with no script and nothing loaded from elsewhere."""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any

SCHEMA_REF = "#/components/schemas/"
MESSAGE_REF = "#/components/messages/"

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; }
h1, h2, h3 { line-height: 1.2; } h3 { margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } code { font-size: 90%; } .req { font-weight: 600; }
pre { white-space: pre-wrap; background: #f8f8f8; padding: .8rem; }
"""


def render(doc: Mapping[str, Any]) -> str:
    """The whole page: channels and who sends or receives them, then every message with its
    key, headers and payload fields, then the shared schemas."""
    info = doc["info"]
    schemas = doc["components"]["schemas"]
    title = f"{info['title']} · AsyncAPI {doc['asyncapi']}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(info['title'])}: the events it speaks</h1>",
        f"<p>AsyncAPI {escape(doc['asyncapi'])}, contracts version {escape(info['version'])}. "
        'Machine-readable: <a href="asyncapi.json">asyncapi.json</a>.</p>',
        f"<pre>{escape(info.get('description', ''))}</pre>",
        _servers(doc),
        _channels(doc),
        "<h2>Messages</h2>",
        *(
            _message(name, message, schemas)
            for name, message in doc["components"]["messages"].items()
        ),
        "<h2>Schemas</h2>",
        *(_schema(name, schema) for name, schema in schemas.items()),
        "</body></html>",
    ]
    return "\n".join(part for part in parts if part)


def _servers(doc: Mapping[str, Any]) -> str:
    servers = doc.get("servers", {})
    if not servers:
        return ""
    rows = [
        [escape(name), f"<code>{escape(s['host'])}</code>", escape(s["protocol"])]
        for name, s in servers.items()
    ]
    return "<h2>Servers</h2>" + _table(["server", "host", "protocol"], rows)


def _channels(doc: Mapping[str, Any]) -> str:
    actions: dict[str, list[str]] = {}
    for operation in doc["operations"].values():
        channel = operation["channel"]["$ref"].removeprefix("#/channels/")
        verb = "publishes" if operation["action"] == "send" else "consumes"
        group = operation.get("bindings", {}).get("kafka", {}).get("groupId", {}).get("enum")
        actions.setdefault(channel, []).append(
            f"{verb} (group <code>{escape(group[0])}</code>)" if group else verb
        )
    rows = []
    for name, channel in doc["channels"].items():
        messages = ", ".join(
            _link(ref["$ref"].removeprefix(MESSAGE_REF), "message")
            for ref in channel["messages"].values()
        )
        rows.append(
            [
                f"<code>{escape(channel['address'])}</code>",
                "; ".join(actions.get(name, [])),
                messages,
                escape(channel.get("description", "")),
            ]
        )
    return "<h2>Topics</h2>" + _table(["topic", "this service", "messages", "about"], rows)


def _message(name: str, message: Mapping[str, Any], schemas: Mapping[str, Any]) -> str:
    key = message.get("bindings", {}).get("kafka", {}).get("key", {})
    headers = message.get("headers", {})
    header_rows = [
        [
            _name(header, header in headers.get("required", [])),
            _type(schema),
            escape(schema.get("description", "")),
        ]
        for header, schema in headers.get("properties", {}).items()
    ]
    payload = message["payload"]
    body = f"<p>Payload: {_type(payload)}. {escape(payload.get('description', ''))}</p>"
    if "$ref" in payload:
        body += _field_table(schemas[payload["$ref"].removeprefix(SCHEMA_REF)])
    return "\n".join(
        [
            f'<h3 id="message-{escape(name)}">{escape(message.get("title", name))}</h3>',
            f"<p>{escape(message.get('description') or message.get('summary', ''))}</p>",
            f"<p>Key: {_type(key)}: {escape(key.get('description', ''))}</p>",
            "<p>Headers:</p>",
            _table(["header", "type", "about"], header_rows),
            body,
        ]
    )


def _schema(name: str, schema: Mapping[str, Any]) -> str:
    heading = f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>'
    if "enum" in schema:
        values = ", ".join(f"<code>{escape(str(v))}</code>" for v in schema["enum"])
        return f"{heading}<p>One of {values}.</p>"
    about = f"<p>{escape(schema['description'])}</p>" if schema.get("description") else ""
    return heading + about + _field_table(schema)


def _field_table(schema: Mapping[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = [
        [_name(field, field in required), _type(prop), escape(prop.get("description", ""))]
        for field, prop in schema.get("properties", {}).items()
    ]
    return _table(["field", "type", "about"], rows)


def _type(schema: Mapping[str, Any]) -> str:
    """A schema in a few words: `string (uuid)`, `array of OrderLine`, `A | B`."""
    if "$ref" in schema:
        return _link(schema["$ref"].removeprefix(SCHEMA_REF), "schema")
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return " | ".join(_type(option) for option in schema[union])
    if "const" in schema:
        return f"<code>{escape(json.dumps(schema['const']))}</code>"
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {_type(schema['additionalProperties'])}"
    if kind is None:
        return "any"
    text = escape(str(kind))
    details = [schema[k] for k in ("format", "pattern") if k in schema]
    if details:
        text += " (" + ", ".join(f"<code>{escape(str(d))}</code>" for d in details) + ")"
    return text


def _link(name: str, kind: str) -> str:
    return f'<a href="#{kind}-{escape(name)}">{escape(name)}</a>'


def _name(name: str, required: bool) -> str:
    label = f"<code>{escape(name)}</code>"
    return f'<span class="req">{label}</span> (required)' if required else label


def _table(headings: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
