"""Monitoring's OCEL 2.0 export over the real broker and database: a chain's events published as
the other services publish them (monitoring raises its own SLA alarms), exported over HTTP as
JSON and as SQLite, read back by an independent OCEL 2.0 implementation (oceldb) and counted
against what the topics hold; the JSON checked against the OCEL 2.0 JSON schema
(tests/contract/ocel20-schema-json.json, see the note beside it). Analyst keys only; an
employee is a pseudonym of the export, and what people wrote in their own words is left out."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import polars as pl
import pytest
from oceldb import OCEL
from oceldb.io import convert_json, convert_sqlite
from supplychain_contracts import (
    ComponentsRequested,
    CreditNoteIssued,
    FeedbackGiven,
    HelpRequested,
    InvoiceIssued,
    InvoiceLine,
    OrderAccepted,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    OrderShipped,
    RequestedComponent,
    WorkStarted,
    topics,
)
from supplychain_contracts.envelope import Envelope
from support import Record, auth, poll_http, read_records, read_to_end
from support.monitoring import SUPPLIER, parties, placed, policies_env, publish

pytestmark = pytest.mark.integration
SCHEMA = Path(__file__).parents[1] / "contract" / "ocel20-schema-json.json"
ORDER_TOPICS = [topics.ORDERS, topics.FULFILMENT, topics.INVOICING, topics.SLA]
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
EMPLOYEE = "E-4711"
# what people wrote: none of it may leave in the export
FREE_TEXTS = ("the courier was rude", "call me on 0170", "wheels wobble", "acceptance breached")


def chain(now: datetime) -> tuple[list[Envelope], uuid.UUID, uuid.UUID]:
    """ASSEMBLY orders from WHEELS, WHEELS raises a sub-order to METALWORKS; both delivered,
    the root invoiced, credited and rated."""
    root, sub = uuid.uuid4(), uuid.uuid4()
    line = OrderLine(sku="WHEEL-28", quantity=2, unit_price="38.50")
    at = iter(now + timedelta(milliseconds=50 * i) for i in range(100))
    sub_parties = {
        **parties(sub),
        "root_order_id": root,
        "supplier": "METALWORKS",
        "requester": SUPPLIER,
    }
    invoice_id = uuid.uuid4()
    events: list[Envelope] = [
        OrderAccepted(**parties(root), occurred_at=next(at)),
        WorkStarted(**parties(root), occurred_at=next(at)),
        ComponentsRequested(
            **parties(root),
            occurred_at=next(at),
            components=(
                RequestedComponent(order_id=sub, sku="RIM", quantity=2, supplier="METALWORKS"),
            ),
        ),
        OrderPlaced(**sub_parties, parent_order_id=root, lines=(line,), occurred_at=next(at)),
        OrderAccepted(**sub_parties, occurred_at=next(at)),
        OrderShipped(**sub_parties, occurred_at=next(at)),
        OrderDelivered(**sub_parties, lines=(line,), occurred_at=next(at)),
        HelpRequested(
            **parties(root),
            employee_id=EMPLOYEE,
            occurred_at=next(at),
            subject="wheels wobble",
            message="call me on 0170 555",
        ),
        OrderShipped(**parties(root), occurred_at=next(at)),
        OrderDelivered(**parties(root), lines=(line,), occurred_at=next(at)),
        InvoiceIssued(
            **parties(root),
            occurred_at=next(at),
            invoice_id=invoice_id,
            period=f"{now:%Y-%m}",
            currency="EUR",
            lines=(InvoiceLine(sku="WHEEL-28", quantity=2, unit_price="38.50", amount="77.00"),),
            total="77.00",
        ),
        CreditNoteIssued(
            **parties(root),
            occurred_at=next(at),
            credit_note_id=uuid.uuid4(),
            invoice_id=invoice_id,
            period=f"{now:%Y-%m}",
            currency="EUR",
            amount="7.70",
            reason="acceptance breached",
        ),
        FeedbackGiven(
            **parties(root),
            employee_id=EMPLOYEE,
            occurred_at=next(at),
            rating=4,
            comment="the courier was rude",
        ),
    ]
    return events, root, sub


def in_period(records: list[Record], period: str) -> list[dict[str, Any]]:
    return [r.json for r in records if r.json["occurred_at"].startswith(period)]


def expected_objects(events: list[dict[str, Any]]) -> dict[str, int]:
    """What the events touch, read from the topics' records (the export's rule, said again)."""
    orders, departments, invoices, notes, clocks = set(), set(), set(), set(), set()
    for e in events:
        orders |= {e["order_id"], e["root_order_id"], e.get("parent_order_id")}
        orders |= {c["order_id"] for c in e.get("components", ())}
        departments |= {e["supplier"], e["requester"]}
        invoices.add(e.get("invoice_id"))
        notes.add(e.get("credit_note_id"))
        if e["event_type"].startswith("Sla"):
            clocks.add((e["order_id"], e["stage"]))
    counts = {
        "order": orders - {None},
        "department": departments,
        "invoice": invoices - {None},
        "credit_note": notes - {None},
        "sla_clock": clocks,
    }
    return {kind: len(ids) for kind, ids in counts.items()}


def employees_named(document: dict[str, Any]) -> set[str]:
    return {
        a["value"]
        for e in document["events"]
        for a in e["attributes"]
        if a["name"] == "employee_id"
    }


def counts_of(log: OCEL) -> tuple[dict[str, int], dict[str, int]]:
    def per_type(frame: pl.DataFrame) -> dict[str, int]:
        return dict(Counter(frame["ocel_type"].to_list()))

    return per_type(log.events().collect()), per_type(log.objects().collect())


def schema_errors(document: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The document's errors against the published schema: those of its one known departure
    (integer and float attribute values are JSON numbers, as the specification's JSON format
    and the readers take them, where the schema says string), and any other."""
    declared = {
        (section, t["name"], a["name"]): a["type"]
        for section in ("eventTypes", "objectTypes")
        for t in document[section]
        for a in t["attributes"]
    }
    section_of = {"events": "eventTypes", "objects": "objectTypes"}
    known, others = [], []
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    for error in validator.iter_errors(document):
        path = list(error.absolute_path)
        if len(path) == 5 and path[2] == "attributes" and path[4] == "value":
            item = document[path[0]][path[1]]
            attribute = item["attributes"][path[3]]
            kind = declared[(section_of[path[0]], item["type"], attribute["name"])]
            if error.validator == "type" and kind in {"integer", "float", "boolean"}:
                known.append(f"{item['type']}.{attribute['name']}")
                continue
        others.append(f"{path}: {error.message}")
    return known, others


async def test_the_export_reads_back_and_counts_what_the_topics_hold(
    start_service, broker, tmp_path
) -> None:
    # a 1 s acceptance target of WHEELS: an order placed a minute ago is breached at once
    env = policies_env({"acceptance": 1, "fulfilment": 3600, "end_to_end": 3600})
    monitoring = start_service("monitoring", env=env)
    bootstrap, now = broker.bootstrap_servers, datetime.now(UTC)
    trace_id = uuid.uuid4().hex
    events, root, sub = chain(now)
    await publish(bootstrap, placed(root, now - timedelta(minutes=1)), trace_id=trace_id)
    await read_records(
        bootstrap,
        [topics.SLA],
        until=lambda rs: any(r.json["event_type"] == "SlaBreached" for r in rs),
        timeout=15,
    )
    for event in events:
        await publish(bootstrap, event, trace_id=trace_id)

    period = f"{now:%Y-%m}"
    records = await read_to_end(bootstrap, ORDER_TOPICS)
    held = in_period(records, period)
    expected_events = dict(Counter(e["event_type"] for e in held))
    assert {"OrderPlaced", "SlaWarning", "SlaBreached", "CreditNoteIssued"} <= set(expected_events)
    url = f"/v1/exports/ocel2?period={period}"
    sqlite_url = f"{url}&format=sqlite"
    async with httpx.AsyncClient(
        base_url=monitoring.url, headers=auth("analyst"), timeout=30
    ) as client:
        # monitoring has recorded the topics when the export holds as many events
        exported = await poll_http(
            client,
            url,
            until=lambda r: r.status_code == 200 and len(r.json()["events"]) == len(held),
            timeout=15,
        )
        sqlite = await client.get(sqlite_url)
        bad_period = await client.get("/v1/exports/ocel2?period=2026-13")
        bad_format = await client.get(f"{url}&format=xml")
        anonymous = await client.get(url, headers={"Authorization": ""})
        forbidden = {
            role: await client.get(url, headers=auth(role))
            for role in ("WHEELS", "FRAMES", "finance", "operator", "admin")
        }
        again = await client.get(url)

    assert exported.headers["content-type"].startswith("application/json")
    assert sqlite.status_code == 200, sqlite.text
    assert sqlite.headers["content-type"] == "application/vnd.sqlite3"
    for refused, field in ((bad_period, "period"), (bad_format, "format")):
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in refused.json()["errors"]] == [field]
    assert anonymous.status_code == 401
    for role, answer in forbidden.items():  # the party to the orders as much as any other key
        assert answer.status_code == 403, role
        assert answer.headers["content-type"].startswith("application/problem+json")

    for form in (exported.content, sqlite.content, again.content):
        assert EMPLOYEE.encode() not in form
        assert not [text for text in FREE_TEXTS if text.encode() in form]
    pseudonyms = [employees_named(exported.json()), employees_named(again.json())]
    assert [len(named) for named in pseudonyms] == [1, 1]  # one employee, one pseudonym a file
    assert all(re.fullmatch(r"emp-[0-9a-f]{12}", p) for named in pseudonyms for p in named)
    assert pseudonyms[0] != pseudonyms[1]  # each export its own key: not matched across files

    document = exported.json()
    known, others = schema_errors(document)
    assert others == []
    assert {"FeedbackGiven.rating", "SlaBreached.target_seconds"} <= set(known)
    # money leaves as exact decimal strings (attribute type string), never as a float
    assert not {"InvoiceIssued.total", "CreditNoteIssued.amount"} & set(known)
    values = {
        (item["type"], a["name"]): a["value"]
        for section in ("events", "objects")
        for item in document[section]
        for a in item["attributes"]
    }
    assert values[("InvoiceIssued", "total")] == values[("invoice", "total")] == "77.00"
    assert values[("CreditNoteIssued", "amount")] == values[("credit_note", "amount")] == "7.70"
    assert all(TIME.match(e["time"]) for e in document["events"])  # pm4py's parser reads these
    (tmp_path / "log.json").write_bytes(exported.content)
    (tmp_path / "log.sqlite").write_bytes(sqlite.content)
    logs = [
        convert_json(tmp_path / "log.json", tmp_path / "from-json"),
        convert_sqlite(tmp_path / "log.sqlite", tmp_path / "from-sqlite"),
    ]
    for log in logs:
        assert counts_of(log) == (expected_events, expected_objects(held))

        def e2o(qualifier: str, log: OCEL = log) -> set[str]:
            return set(log.e2o(qualifier=qualifier).collect()["ocel_object_id"].to_list())

        def o2o(qualifier: str, log: OCEL = log) -> set[tuple[str, str]]:
            frame = log.o2o(qualifier=qualifier).collect()
            return set(zip(frame["ocel_source_id"], frame["ocel_target_id"], strict=True))

        assert e2o("breached clock") == {f"{root}:acceptance"}
        assert e2o("sub-order") == {str(sub)}
        assert o2o("parent") == {(str(sub), str(root))}
        assert o2o("sub-order") == {(str(root), str(sub))}
        assert o2o("timed order") == {(f"{root}:acceptance", str(root))}
        assert len(o2o("invoiced order")) == len(o2o("credited invoice")) == 1
        statuses = (
            log.object_changes("order", ids=str(root))
            .filter(pl.col("ocel_changed_field") == "status")
            .sort("ocel_time")
            .collect()["status"]
            .to_list()
        )
        assert statuses[0] == "placed" and statuses[-1] == "invoiced"
        assert "awaiting_components" in statuses
        states = log.object_changes("sla_clock").sort("ocel_time").collect()["state"]
        assert states.drop_nulls().to_list()[-1] == "breached"
