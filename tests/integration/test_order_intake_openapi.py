"""The intake's OpenAPI document, and schemathesis fuzzing against it on the live service.

The fuzzing posts generated requests (valid and invalid per the document) over real HTTP to
the service on the real broker and database, as an authenticated department; no request
may end in a 5xx, and every error must be a problem document.
"""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from support import auth

pytestmark = pytest.mark.integration

DOCUMENTED_ERRORS = {
    ("post", "/v1/orders"): {"401", "403", "409", "422"},
    ("get", "/v1/orders"): {"401", "422"},
    ("get", "/v1/orders/{order_id}"): {"401", "404", "422"},
    ("post", "/v1/orders/{order_id}/approve"): {"401", "403", "404", "409", "422"},
    ("post", "/v1/orders/{order_id}/cancel"): {"401", "403", "404", "409", "422"},
    ("get", "/v1/departments"): {"401"},
    ("get", "/v1/catalogue"): {"401", "422"},
    ("put", "/v1/admin/departments/{code}"): {"401", "403", "422"},
    ("get", "/v1/admin/departments"): {"401", "403"},
    ("get", "/v1/admin/departments/{code}"): {"401", "403", "404", "422"},
    ("put", "/v1/admin/catalogue/{sku}"): {"401", "403", "422"},
    ("get", "/v1/admin/catalogue"): {"401", "403"},
    ("get", "/v1/admin/catalogue/{sku}"): {"401", "403", "404", "422"},
    ("put", "/v1/admin/employees/{employee_id}"): {"401", "403", "422"},
    ("get", "/v1/admin/employees"): {"401", "403"},
    ("get", "/v1/admin/employees/{employee_id}"): {"401", "403", "404", "422"},
}
ADMIN = {"Authorization": "Bearer dev-admin-1"}
EXAMPLES_PER_OPERATION_AND_MODE = 25
# placing orders has the most input to get wrong
EXAMPLES = {("POST", "/v1/orders"): 100}
FUZZ_BUDGET_S = 25


def check_document(document: dict) -> None:
    paths = document["paths"]
    schemas = document["components"]["schemas"]
    for (method, path), codes in DOCUMENTED_ERRORS.items():
        operation = paths[path][method]
        assert operation.get("summary") and operation.get("description"), (method, path)
        responses = operation["responses"]
        assert codes <= set(responses), (method, path, sorted(responses))
        for code in codes:
            content = responses[code]["content"]
            assert list(content) == ["application/problem+json"], (method, path, code)
            assert content["application/problem+json"]["schema"]["$ref"].endswith("/ProblemDetail")
        success = next(code for code in responses if code.startswith("2"))
        assert "application/json" in responses[success]["content"], (method, path)
    # request and response fields are described
    for model in ("PlaceOrder", "OrderLineIn", "OrderOut", "OrderPage", "ProblemDetail"):
        for name, field in schemas[model]["properties"].items():
            assert field.get("description"), (model, name)
    assert schemas["PlaceOrder"].get("examples"), "PlaceOrder has an example"
    assert schemas["OrderLineIn"]["properties"]["sku"]["examples"] == ["FRAME-CITY"]
    idempotency = next(
        p for p in paths["/v1/orders"]["post"]["parameters"] if p["name"] == "Idempotency-Key"
    )
    assert idempotency["required"] and idempotency["description"]


def check_case(case: schemathesis.Case, mode: GenerationMode, base_url: str) -> str | None:
    """Send one generated request; what is wrong with the answer, if anything."""
    # the document declares bearer auth, so schemathesis makes up keys: use a real one to
    # get past authentication (401s are covered by test_order_intake.py), an admin key on
    # admin routes (department keys get 403 there: test_company_admin.py)
    admin = case.path.startswith("/v1/admin/")
    case.headers = {**(case.headers or {}), **(ADMIN if admin else auth("ASSEMBLY"))}
    if mode is GenerationMode.POSITIVE and isinstance(case.body, dict) and not admin:
        # a valid body for another department would only ever get a 403
        case.body["requester"] = "ASSEMBLY"
    response = case.call(base_url=base_url, timeout=10)
    where = f"{case.method} {case.formatted_path} {mode.value} {case.body!r:.200}"
    if response.status_code >= 500:
        return f"{where}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        content_type = "".join(response.headers.get("content-type", []))
        if not content_type.startswith("application/problem+json"):
            return f"{where}: {response.status_code} as {content_type}"
        if "Traceback" in response.text:
            return f"{where}: leaks a traceback"
    return None


def fuzz(base_url: str) -> tuple[int, list[str]]:
    """Run generated cases against every /v1 operation; return (cases run, failures)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    document = httpx.get(f"{base_url}/openapi.json").json()
    failures: list[str] = []
    sent = []
    deadline = time.monotonic() + FUZZ_BUDGET_S
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/v1/"):
            continue
        examples = EXAMPLES.get(
            (operation.method.upper(), operation.path), EXAMPLES_PER_OPERATION_AND_MODE
        )
        declared = document["paths"][operation.path][operation.method.lower()]
        # an operation without any input (no parameter, body or key) has nothing to corrupt
        has_input = any(declared.get(part) for part in ("parameters", "requestBody", "security"))
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if has_input else ()
        modes = modes or (GenerationMode.POSITIVE,)
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode), mode=st.just(mode))
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def exercise(case: schemathesis.Case, mode: GenerationMode) -> None:
                if time.monotonic() > deadline:
                    return
                sent.append(case)
                failure = check_case(case, mode, base_url)
                if failure:
                    failures.append(failure)

            exercise()
    return len(sent), failures


def near_valid_orders(departments: list[str], skus: list[str]) -> st.SearchStrategy[dict]:
    """Orders built from the real reference data, so they get past the schema and reach the
    business rules (pricing, budgets, approval, employees) with odd combinations."""
    line = st.fixed_dictionaries(
        {"sku": st.sampled_from(skus), "quantity": st.integers(min_value=1, max_value=12_000)}
    )
    return st.fixed_dictionaries(
        {
            "requester": st.sampled_from(departments),
            "supplier": st.sampled_from(departments),
            "lines": st.lists(line, min_size=1, max_size=4),
        },
        optional={
            "priority": st.sampled_from(["standard", "rush"]),
            "needed_by": st.dates(date.today() - timedelta(days=3), date(9999, 12, 31)).map(str),
            "employee_id": st.sampled_from(["E-1001", "E-1002", "E-1003", "E-0"]),
        },
    )


def fuzz_business_rules(base_url: str) -> tuple[int, list[str]]:
    with httpx.Client(base_url=base_url, headers=auth("ASSEMBLY"), timeout=10) as client:
        departments = [d["code"] for d in client.get("/v1/departments").json()]
        skus = [i["sku"] for i in client.get("/v1/catalogue").json()]
        failures: list[str] = []
        outcomes: set[int] = set()

        @given(body=near_valid_orders(departments, skus))
        @settings(max_examples=60, deadline=None, database=None, phases=[Phase.generate])
        def place(body: dict) -> None:
            response = client.post(
                "/v1/orders",
                json=body,
                headers={"Idempotency-Key": f"fuzz-{uuid.uuid4()}", **auth(body["requester"])},
            )
            outcomes.add(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{body}: {response.status_code} {response.text[:300]}")
            elif response.status_code == 201:
                order = response.json()
                total = sum(
                    Decimal(line["unit_price"]) * line["quantity"] for line in order["lines"]
                )
                if Decimal(order["total"]) != total:
                    failures.append(f"{body}: total {order['total']} != {total}")
            elif not response.headers["content-type"].startswith("application/problem+json"):
                failures.append(f"{body}: {response.status_code} not a problem document")

        place()
    assert 201 in outcomes and 422 in outcomes, outcomes
    return len(outcomes), failures


def test_openapi_documents_every_route_and_fuzzing_finds_no_5xx(start_service) -> None:
    intake = start_service("order-intake")
    document = httpx.get(f"{intake.url}/openapi.json").json()
    check_document(document)
    ran, failures = fuzz(intake.url)
    assert failures == [], "\n".join(failures[:20])
    assert ran >= 100, f"only {ran} generated requests were sent"
    _, failures = fuzz_business_rules(intake.url)
    assert failures == [], "\n".join(failures[:20])
    # the service is still healthy after the fuzzing
    assert httpx.get(f"{intake.url}/health/ready").status_code == 200
