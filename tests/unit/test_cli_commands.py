"""The CLI's commands offline: each command's request (method, path, body, key) and what it
prints, against a recorded answer (an httpx mock transport, no service): settled
cancellations, disputes and periods; every table at 80 columns (short ids) and with --wide;
usage errors before any request."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from supplychain_cli import api as cli_api
from supplychain_cli import output as cli_output
from supplychain_cli.app import app
from typer.testing import CliRunner

INVOICE = "33333333-3333-4333-8333-333333333333"
DISPUTE = "44444444-4444-4444-8444-444444444444"
ORDER = "11111111-1111-4111-8111-111111111111"
SETTLED = "2026-12-02T09:00:00Z"


def dispute(status: str = "open", **fields: Any) -> dict[str, Any]:
    return {
        "dispute_id": DISPUTE,
        "invoice_id": INVOICE,
        "order_id": ORDER,
        "supplier": "WHEELS",
        "requester": "ASSEMBLY",
        "status": status,
        "amount": "12.50",
        "currency": "EUR",
        "reason": "two wheels scratched",
        "opened_at": "2026-12-01T09:00:00Z",
        "opened_by": "assembly-1",
        "escalate_at": "2026-12-08T09:00:00Z",
        "escalated_at": None,
        "settled_at": None,
        "settled_by": None,
        "settle_reason": None,
        "credit_note_id": None,
        "evidence": {
            "timeline": [{"type": "OrderDelivered", "occurred_at": "2026-11-30T10:00:00Z"}],
            "trace_id": "ab" * 16,
        },
        **fields,
    }


Answer = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> tuple[list[httpx.Request], list[Answer]]:
    """Requests the CLI sent, and the answers to give (in turn)."""
    sent: list[httpx.Request] = []
    answers: list[Answer] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers.pop(0)(request)

    real = httpx.Client

    def client(**kwargs: Any) -> httpx.Client:
        return real(transport=httpx.MockTransport(handle), **kwargs)

    monkeypatch.setattr(cli_api.httpx, "Client", client)
    return sent, answers


def cli(*args: str, key: str = "dev-assembly-1", columns: int = 200) -> Any:
    # the console fixed its width from COLUMNS when first imported (another test's, under
    # pytest-xdist): let it read this test's COLUMNS instead
    cli_output.console._width = None
    env = {
        "SUPPLYCHAIN_API_KEY": key,
        "COLUMNS": str(columns),
        "SUPPLYCHAIN_URL_INVOICING": "http://inv",
    }
    return CliRunner().invoke(app, list(args), env={**env, "SUPPLYCHAIN_URL_INTAKE": "http://oi"})


def body(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def test_disputes_open_accept_reject_list_show(served: Any) -> None:
    sent, answers = served
    answers += [
        lambda r: httpx.Response(201, json=dispute()),
        lambda r: httpx.Response(
            200, json=dispute("accepted", credit_note_id=str(uuid.uuid4()), settled_at=SETTLED)
        ),
        lambda r: httpx.Response(
            200, json=dispute("rejected", settle_reason="as ordered", settled_at=SETTLED)
        ),
        lambda r: httpx.Response(
            200, json=[dispute("escalated", escalated_at="2026-12-08T09:00:00Z")]
        ),
        lambda r: httpx.Response(200, json=dispute()),
    ]
    opened = cli(
        "disputes", "open", INVOICE, "--amount", "12.50", "--reason", "two wheels scratched"
    )
    assert opened.exit_code == 0, opened.output
    assert f"opened: {DISPUTE} (open)" in opened.output and "OrderDelivered" in opened.output
    accepted = cli("disputes", "accept", DISPUTE, "--json", key="dev-wheels-1")
    assert accepted.exit_code == 0 and json.loads(accepted.output)["status"] == "accepted"
    rejected = cli("disputes", "reject", DISPUTE, "--reason", "as ordered", key="dev-wheels-1")
    assert (
        rejected.exit_code == 0
        and "rejected:" in rejected.output
        and "as ordered" in rejected.output
    )
    listed = cli("disputes", "list", "--status", "escalated", key="dev-finance-1")
    assert listed.exit_code == 0 and "escalated" in listed.output and "12.50 EUR" in listed.output
    assert cli("disputes", "show", DISPUTE).exit_code == 0

    assert [(r.method, r.url.path) for r in sent] == [
        ("POST", f"/v1/invoices/{INVOICE}/disputes"),
        ("POST", f"/v1/disputes/{DISPUTE}/accept"),
        ("POST", f"/v1/disputes/{DISPUTE}/reject"),
        ("GET", "/v1/disputes"),
        ("GET", f"/v1/disputes/{DISPUTE}"),
    ]
    # the amount goes as the decimal string typed, never a float
    assert body(sent[0]) == {"amount": "12.50", "reason": "two wheels scratched"}
    assert body(sent[1]) is None and body(sent[2]) == {"reason": "as ordered"}
    assert sent[3].url.params["status"] == "escalated"
    assert sent[3].headers["Authorization"] == "Bearer dev-finance-1"


def test_periods_list_close_reopen(served: Any) -> None:
    sent, answers = served
    month = {
        "legal_entity": "ACME_DE",
        "period": "2026-11",
        "status": "closed",
        "closed_at": "2026-12-01T08:00:00Z",
        "closed_by": "finance-1",
        "history": [
            {"action": "closed", "at": "2026-12-01T08:00:00Z", "by": "finance-1",
             "reason": "month end", "statements": 4},
        ],
    }  # fmt: skip
    answers += [
        lambda r: httpx.Response(200, json={**month, "changed": True}),
        lambda r: httpx.Response(200, json={**month, "status": "open", "changed": True}),
        lambda r: httpx.Response(200, json=[month]),
    ]
    closed = cli(
        "periods", "close", "ACME_DE", "2026-11", "--reason", "month end", key="dev-finance-1"
    )
    assert closed.exit_code == 0, closed.output
    assert "closed: ACME_DE 2026-11" in closed.output and "month end" in closed.output
    reopened = cli("periods", "reopen", "ACME_DE", "2026-11", "--reason", "late invoice", "--json")
    assert reopened.exit_code == 0 and json.loads(reopened.output)["status"] == "open"
    listed = cli("periods", "list", "--legal-entity", "ACME_DE")
    assert listed.exit_code == 0 and "ACME_DE" in listed.output and "finance-1" in listed.output
    assert [(r.method, r.url.path, body(r)) for r in sent] == [
        ("POST", "/v1/admin/periods/ACME_DE/2026-11/close", {"reason": "month end"}),
        ("POST", "/v1/admin/periods/ACME_DE/2026-11/reopen", {"reason": "late invoice"}),
        ("GET", "/v1/periods", None),
    ]
    assert sent[2].url.params["legal_entity"] == "ACME_DE"


@pytest.mark.parametrize(
    "args",
    [
        ("disputes", "open", INVOICE, "--amount", "12.505", "--reason", "x"),
        ("disputes", "open", INVOICE, "--amount", "-1", "--reason", "x"),
        ("disputes", "open", "not-an-invoice", "--amount", "1", "--reason", "x"),
        ("disputes", "reject", DISPUTE, "--reason", " "),
        ("disputes", "list", "--status", "closed"),
        ("periods", "close", "ACME_DE", "2026-13"),
        ("periods", "reopen", "ACME_DE", "2026-11", "--reason", ""),
    ],
)
def test_usage_errors_exit_1_before_any_request(served: Any, args: tuple[str, ...]) -> None:
    sent, _ = served
    assert cli(*args).exit_code == 1
    assert sent == []


def test_cancel_reports_the_request_and_show_tells_how_the_supplier_settled_it(served: Any) -> None:
    sent, answers = served
    order = {
        "order_id": ORDER, "root_order_id": ORDER, "requester": "ASSEMBLY", "supplier": "WHEELS",
        "status": "shipped", "total": "77.00", "currency": "EUR", "priority": "standard",
        "lines": [{"sku": "WHEEL-28", "quantity": 2, "unit_price": "38.50"}],
        "timeline": [],
        "cancellation": {"status": "refused", "reason": "already shipped",
                         "requested_at": "2026-12-01T09:00:00Z",
                         "settled_at": "2026-12-01T09:00:01Z"},
    }  # fmt: skip
    answers += [
        lambda r: httpx.Response(
            202,
            json={
                "order_id": ORDER,
                "status": "cancellation_requested",
                "order_status": "accepted",
                "order": order,
            },
        ),
        lambda r: httpx.Response(200, json=order),
    ]
    cancelled = cli("orders", "cancel", ORDER, "--reason", "plan changed")
    assert cancelled.exit_code == 0, cancelled.output
    assert f"cancellation requested: {ORDER} (order still accepted" in cancelled.output
    shown = cli("orders", "show", ORDER)
    assert shown.exit_code == 0
    assert "cancellation refused by the supplier" in shown.output
    assert "already shipped" in shown.output
    assert body(sent[0]) == {"reason": "plan changed"}


# --- tables at 80 columns ------------------------------------------------------------------

SUB = "55555555-5555-4555-8555-555555555555"
HELP = "66666666-6666-4666-8666-666666666666"
CREDIT = "77777777-7777-4777-8777-777777777777"
AT = "2026-12-01T09:00:00.123456Z"
DOCUMENT = {"order_id": ORDER, "supplier": "ELECTRONICS", "requester": "RETAIL_OPS",
            "amount": "12713.00", "issued_at": AT}  # fmt: skip
SIDE = {"invoiced": "12713.00", "credited": "0.00", "net": "12713.00", "credit_notes": [],
        "invoices": [{**DOCUMENT, "document_id": INVOICE}]}  # fmt: skip
ACCOUNT = {"legal_entity": "NC-RETAIL", "account": "payroll_deduction_receivable",
           "cost_centre": "CC-2100", "counterparty_entity": "NC-MFG", "debit": "123456.00",
           "credit": "0.00", "balance": "123456.00", "currency": "EUR"}  # fmt: skip
CARD = {"supplier": "ELECTRONICS", "orders_handled": 1204, "rejected": 3, "breaches": 12,
        "average_satisfaction": 4.25, "help_requests": 7,
        "on_time_pct": {s: 97.5 for s in ("acceptance", "fulfilment", "delivery", "invoicing",
                                            "end_to_end")}}  # fmt: skip
DEAD_LETTER = {"topic": "supplychain.fulfilment.v1.dlq", "partition": 0, "offset": 1204,
               "source_partition": 3, "source_offset": 88123, "consumer_group": "invoicing",
               "error_type": "ValidationError", "key": ORDER, "redriven": None,
               "error": "1 validation error for OrderShipped\npriority\n  Input should be "
               "'standard' or 'rush' [type=enum, input_value='urgent']"}  # fmt: skip
PARKED = {"outbox_id": 120345, "topic": "supplychain.fulfilment.v1", "key": ORDER,
          "event_type": "ComponentsRequested", "attempts": 12, "parked_at": AT,
          "last_error": "MessageSizeTooLargeError: the message is 1288001 bytes"}  # fmt: skip
CONSUMER_PARKED = {"id": 7, "consumer_group": "invoicing", "topic": "supplychain.fulfilment.v1",
                   "partition": 2, "offset": 88123, "event_type": "OrderReturned",
                   "first_seen_at": AT}  # fmt: skip
ORDER_ROW = {"order_id": ORDER, "requester": "RETAIL_OPS", "supplier": "ELECTRONICS",
             "status": "pending_approval", "total": "12713.00", "currency": "EUR",
             "priority": "standard", "created_at": AT}  # fmt: skip
QUEUED = {"order_id": ORDER, "requester": "RETAIL_OPS", "status": "awaiting_components",
          "priority": "rush", "needed_by": "2026-12-24",
          "lines": [{"quantity": 2, "sku": "EBIKE-CITY"}],
          "sub_orders": [{"sku": "FRAME-CITY", "supplier": "FRAMES", "status": "in_progress"},
                         {"sku": "WHEEL-28", "supplier": "WHEELS", "status": "delivered"}]}  # fmt: skip
HELP_REQUEST = {"help_event_id": HELP, "subject": "delivery dock", "status": "answered",
                "history": [{"department": "RETAIL_OPS", "text": "dock 3 please"},
                            {"department": "ELECTRONICS", "text": "which dock?"}]}  # fmt: skip

# (command, its answer, the ids it shows): every command of the CLI that prints a table
TABLES: list[tuple[tuple[str, ...], Any, tuple[str, ...]]] = [
    (("orders", "list"), {"orders": [ORDER_ROW, {**ORDER_ROW, "order_id": SUB}]}, (ORDER, SUB)),
    (("queue", "ELECTRONICS"), [QUEUED], (ORDER,)),
    (("help-requests", ORDER), [HELP_REQUEST], (HELP,)),
    (
        ("invoices", "list"),
        [
            {
                **DOCUMENT,
                "invoice_id": INVOICE,
                "period": "2026-12",
                "total": "12713.00",
                "currency": "EUR",
            }
        ],
        (INVOICE, ORDER),
    ),
    (
        ("statement", "RETAIL_OPS", "--period", "2026-12"),
        {
            "as_supplier": SIDE,
            "as_requester": {
                **SIDE,
                "invoices": [],
                "credit_notes": [{**DOCUMENT, "document_id": CREDIT}],
            },
            "net": "0.00",
        },
        (INVOICE, ORDER, CREDIT),
    ),
    (
        ("trial-balance",),
        {
            "period": None,
            "balanced": True,
            "accounts": [ACCOUNT],
            "totals": {"EUR": {"debit": "1", "credit": "1", "balance": "0"}},
        },
        (),
    ),
    (("scorecard", "--period", "2026-12"), [CARD], ()),
    (("disputes", "list"), [dispute()], (DISPUTE,)),
    (
        ("periods", "list"),
        [
            {
                "legal_entity": "NC-RETAIL",
                "period": "2026-11",
                "status": "closed",
                "closed_at": AT,
                "closed_by": "finance-1",
                "history": [],
            }
        ],
        (),
    ),
    (("dlq", "list", "--topic", "supplychain.fulfilment.v1"), [DEAD_LETTER], ()),
    (("outbox", "parked", "--service", "fulfilment"), [PARKED], (ORDER,)),
    (("consumer", "parked", "--service", "invoicing"), [CONSUMER_PARKED], ()),
]


@pytest.mark.parametrize(
    ("args", "answer", "ids"), TABLES, ids=[" ".join(t[0][:2]) for t in TABLES]
)
def test_every_table_fits_80_columns_with_short_ids_and_wide_shows_them_in_full(
    served: Any, args: tuple[str, ...], answer: Any, ids: tuple[str, ...]
) -> None:
    _, answers = served
    answers += [lambda r: httpx.Response(200, json=answer)] * 2
    narrow = cli(*args, columns=80)
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.output.splitlines()
    assert max(len(line) for line in lines) <= 80, narrow.output
    for full in ids:
        assert full not in narrow.output, narrow.output
        assert any(full[:8] in line for line in lines), narrow.output  # never broken
    if ids:
        assert cli_output.SHORT_IDS_HINT in narrow.output
    wide = cli(*args, "--wide", columns=80)
    assert wide.exit_code == 0, wide.output
    for full in ids:
        assert any(full in line for line in wide.output.splitlines()), wide.output


def test_a_list_row_is_one_line_at_80_columns(served: Any) -> None:
    """The complaint that began it: `orders list` broke every order id over five lines."""
    _, answers = served
    answers += [lambda r: httpx.Response(200, json=TABLES[0][1])] * 2
    listed = cli("orders", "list", columns=80).output.splitlines()
    rows = [line for line in listed if line.startswith(("11111111", "55555555"))]
    assert len(rows) == 2 and all("pending_approval" in row for row in rows), listed
    assert "RETAIL_OPS" in rows[0] and "ELECTRONICS" in rows[0] and " ago" in rows[0]
    wide = cli("orders", "list", "--wide", columns=80).output
    assert "2026-12-01 09:00:00" in wide and "standard" in wide  # the time, the priority


def test_a_short_id_given_back_is_refused_with_where_the_full_one_is(served: Any) -> None:
    sent, _ = served
    refused = cli("orders", "show", ORDER[:8])
    assert refused.exit_code == 1 and sent == []
    assert "--wide" in refused.output
