"""Admin bodies say what they did not understand: a PUT with a key the definition does not
know is refused 422 (problem+json naming the field and the closest known key) and changes
nothing; authentication still comes first. Both owners of reference data, in process over
ASGI against the real PostgreSQL (no broker: the admin routes do not need one to refuse)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from monitoring.config import MonitoringSettings
from monitoring.main import create_app as monitoring_app
from order_intake.config import OrderIntakeSettings
from order_intake.main import create_app as intake_app
from supplychain_contracts.company import sample_company
from supplychain_kit.settings import ServiceSettings

ADMIN = {"Authorization": "Bearer dev-admin-1"}
NO_BROKER = "127.0.0.1:9"  # nothing listens there


async def _serving(
    create_app: Callable[[Any], FastAPI], settings: type[ServiceSettings], database: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings(
            database_url=database.new_database(),
            kafka_bootstrap_servers=NO_BROKER,
            environment="test",
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://admin", headers=ADMIN
        ) as client:
            yield client


@pytest.fixture
async def intake(database: Any) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _serving(intake_app, OrderIntakeSettings, database):
        yield client


@pytest.fixture
async def monitoring(database: Any) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _serving(monitoring_app, MonitoringSettings, database):
        yield client


def _errors(answer: httpx.Response) -> dict[str, str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return {error["field"]: error["message"] for error in answer.json()["errors"]}


async def test_intake_refuses_a_misspelled_key_of_a_department_item_employee_or_rate(
    intake: httpx.AsyncClient,
) -> None:
    company = sample_company()
    department = company.departments[0].model_dump(mode="json")
    threshold = department.pop("approval_threshold") or "100.00"
    misspelled = {**department, "aproval_threshold": threshold}
    answer = await intake.put(f"/v1/admin/departments/{department['code']}", json=misspelled)
    assert _errors(answer) == {
        "aproval_threshold": "unknown key (did you mean approval_threshold?)"
    }
    assert "aproval_threshold: unknown key" in answer.json()["detail"]
    # nothing changed: the department is as the company file says
    kept = await intake.get(f"/v1/admin/departments/{department['code']}")
    assert len(kept.json()["history"]) == 1
    # what a GET gave may be PUT back as it is: its read-only keys are known
    again = await intake.put(f"/v1/admin/departments/{department['code']}", json=kept.json())
    assert again.status_code == 200, again.text
    assert len(again.json()["history"]) == 1

    item = company.catalogue[0].model_dump(mode="json")
    item["transfer_price_rule"] = {"kind": "cost_plus", "markup": "5"}
    answer = await intake.put(f"/v1/admin/catalogue/{item['sku']}", json=item)
    errors = _errors(answer)
    assert errors["transfer_price_rule.markup"] == "unknown key (did you mean markup_pct?)"
    assert "transfer_price_rule.cost_plus.markup_pct" in errors  # its other problem too

    employee = {**company.employees[0].model_dump(mode="json"), "allowance": "10.00"}
    answer = await intake.put(f"/v1/admin/employees/{employee['employee_id']}", json=employee)
    assert _errors(answer) == {"allowance": "unknown key (did you mean yearly_allowance?)"}

    rate = {"rat": "0.9200", "valid_from": "2026-01-01"}
    answer = await intake.put("/v1/admin/fx-rates/USD/EUR", json=rate)
    assert _errors(answer) == {
        "rat": "unknown key (did you mean rate?)",
        "rate": "Field required",
    }

    # authentication comes first
    anonymous = await intake.put(
        f"/v1/admin/departments/{department['code']}",
        json=misspelled,
        headers={"Authorization": ""},
    )
    assert anonymous.status_code == 401


async def test_monitoring_refuses_a_misspelled_key_of_a_policy_or_calendar(
    monitoring: httpx.AsyncClient,
) -> None:
    policy = {
        "supplier": "WHEELS",
        "targets_seconds": {"acceptance": 20},
        "service_credit": "5",
        "calendar": {"time_zone": "Europe/Berlin", "workdays": [0, 1, 2]},
    }
    answer = await monitoring.put("/v1/admin/sla-policies/WHEELS:slow", json=policy)
    assert _errors(answer) == {
        "service_credit": "unknown key (did you mean service_credit_pct?)",
        "calendar.workdays": "unknown key (did you mean working_days?)",
    }
    missing = await monitoring.get("/v1/admin/sla-policies/WHEELS:slow")
    assert missing.status_code == 404  # nothing was defined

    calendar = {"name": "Berlin", "time_zone": "Europe/Berlin", "efective_from": None}
    answer = await monitoring.put("/v1/admin/calendars/BERLIN", json=calendar)
    assert _errors(answer) == {"efective_from": "unknown key (did you mean effective_from?)"}

    credit = policy.pop("service_credit")
    right = {**policy, "service_credit_pct": credit, "calendar": {}}
    defined = await monitoring.put("/v1/admin/sla-policies/WHEELS:slow", json=right)
    assert defined.status_code == 201, defined.text
    assert defined.json()["policy"]["service_credit_pct"] == "5"
