"""The CLI's settled cancellations, disputes and periods offline: each command's request (method,
path, body, key) and what it prints, against a recorded answer (an httpx mock transport, no
service); usage errors before any request."""

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


def cli(*args: str, key: str = "dev-assembly-1") -> Any:
    # the console fixed its width from COLUMNS when first imported (another test's, under
    # pytest-xdist): let it read this test's COLUMNS instead
    cli_output.console._width = None
    env = {"SUPPLYCHAIN_API_KEY": key, "COLUMNS": "200", "SUPPLYCHAIN_URL_INVOICING": "http://inv"}
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
