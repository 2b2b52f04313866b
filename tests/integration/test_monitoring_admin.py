"""Monitoring's admin API over the real broker and database: an administrator defines SLA
policies and business calendars (201 new, 200 a new version or no change), reads their
versions and history; department keys are refused; every change reaches the reference topic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from supplychain_contracts import topics
from support import auth, read_records

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer dev-admin-1"}
COMPANY_FILE = str(Path(__file__).resolve().parents[2] / "examples/company/brightloaf.yaml")
BERLIN = {
    "name": "Berlin office",
    "time_zone": "Europe/Berlin",
    "working_days": [0, 1, 2, 3, 4],
    "start_hour": 9,
    "end_hour": 17,
    "holidays_country": "DE",
    "holidays_subdivision": "BE",
}
RUSH = {
    "supplier": "WHEELS",
    "priority": "rush",
    "targets_seconds": {"acceptance": 20},
    "calendar_code": "BERLIN",
}


def fields(problem: httpx.Response) -> list[str]:
    assert problem.headers["content-type"].startswith("application/problem+json")
    return [error["field"] for error in problem.json()["errors"]]


async def test_an_administrator_defines_policies_and_calendars_with_history(
    start_service: Any, broker: Any
) -> None:
    monitoring = start_service("monitoring")
    policy_url = "/v1/admin/sla-policies/WHEELS:rush"
    async with httpx.AsyncClient(base_url=monitoring.url, headers=ADMIN) as client:
        calendar = await client.put("/v1/admin/calendars/BERLIN", json=BERLIN)
        created = await client.put(policy_url, json=RUSH)
        unchanged = await client.put(policy_url, json=RUSH)
        slower = {**RUSH, "targets_seconds": {"acceptance": 40, "fulfilment": 600}}
        changed = await client.put(policy_url, json=slower)
        history = await client.get(policy_url)
        listed = await client.get("/v1/admin/sla-policies")
        calendars = await client.get("/v1/admin/calendars")
        missing = await client.get("/v1/admin/sla-policies/NOBODY")
        unknown_region = await client.put(
            "/v1/admin/calendars/MOON", json={**BERLIN, "holidays_subdivision": "MOON"}
        )
        not_a_number = await client.put(
            policy_url, json={**RUSH, "targets_seconds": {"acceptance": "soon"}}
        )
        dangling = await client.put(policy_url, json={**RUSH, "calendar_code": "PARIS"})
        in_force = await client.get("/v1/sla/policies?supplier=WHEELS", headers=auth("WHEELS"))
        as_department = {
            "put": await client.put(policy_url, json=RUSH, headers=auth("WHEELS")),
            "get": await client.get(policy_url, headers=auth("WHEELS")),
            "list": await client.get("/v1/admin/calendars", headers=auth("WHEELS")),
        }
        anonymous = await client.get(policy_url, headers={"Authorization": ""})

    assert calendar.status_code == 201, calendar.text
    assert (created.status_code, unchanged.status_code, changed.status_code) == (201, 200, 200)
    assert [v["version"] for v in unchanged.json()["versions"]] == [1]
    body = history.json()
    assert body == changed.json()
    assert (body["policy_id"], body["version"], body["active"]) == ("WHEELS:rush", 2, True)
    assert body["policy"]["targets_seconds"] == {"acceptance": 40.0, "fulfilment": 600.0}
    assert [(v["version"], v["changed_by"]) for v in body["versions"]] == [
        (1, "admin-1"),
        (2, "admin-1"),
    ]
    first, second = body["history"]
    assert (first["before"], first["after"]["targets_seconds"]) == (None, {"acceptance": 20.0})
    assert second["before"]["targets_seconds"] == {"acceptance": 20.0}
    assert second["after"]["targets_seconds"] == {"acceptance": 40.0, "fulfilment": 600.0}
    assert second["changed_by"] == "admin-1" and second["changed_at"]

    keys = {p["policy_id"]: p for p in listed.json()}
    assert {"WHEELS", "WHEELS:rush", "ASSEMBLY:rush"} <= set(keys)  # the sample's and the new
    assert keys["WHEELS"]["changed_by"] == "company-file"
    assert [c["code"] for c in calendars.json()] == ["BERLIN"]
    assert missing.status_code == 404

    assert unknown_region.status_code == 422
    assert fields(unknown_region) == ["holidays_subdivision"]
    assert "unknown subdivision 'MOON' of DE" in unknown_region.json()["detail"]
    assert not_a_number.status_code == 422
    assert fields(not_a_number) == ["targets_seconds.acceptance"]
    assert dangling.status_code == 422 and fields(dangling) == ["calendar_code"]

    rush = next(p for p in in_force.json() if p["policy_key"] == "WHEELS:rush")
    assert (rush["version"], rush["calendar_code"]) == (2, "BERLIN")
    assert rush["calendar"]["holidays_subdivision"] == "BE"

    for refused in as_department.values():
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert anonymous.status_code == 401

    records = await read_records(
        broker.bootstrap_servers,
        [topics.REFERENCE],
        until=lambda rs: any(r.json.get("version") == 2 for r in rs),
    )
    defined = [(r.key, r.json["event_type"], r.json.get("version")) for r in records]
    assert (b"calendar:BERLIN", "BusinessCalendarDefined", None) in defined
    assert [d for d in defined if d[0] == b"sla_policy:WHEELS:rush"] == [
        (b"sla_policy:WHEELS:rush", "SlaPolicyDefined", 1),
        (b"sla_policy:WHEELS:rush", "SlaPolicyDefined", 2),
    ]
    assert (b"sla_policy:ASSEMBLY:rush", "SlaPolicyDefined", 1) in defined  # published at start


def company_file_with(folder: Path, old: str, new: str) -> str:
    """The example company with one change, as a file of its own."""
    path = folder / "company.yaml"
    path.write_text(Path(COMPANY_FILE).read_text().replace(old, new))
    return str(path)


async def test_the_company_file_is_loaded_and_an_unknown_holidays_region_refused(
    start_service: Any, tmp_path: Path
) -> None:
    bad = company_file_with(tmp_path, "holidays_country: CH", "holidays_country: XX")
    with pytest.raises(RuntimeError, match=r"calendars\[0\]\.holidays_country: unknown holidays"):
        start_service("monitoring", env={"COMPANY_FILE": bad})

    monitoring = start_service("monitoring", env={"COMPANY_FILE": COMPANY_FILE})
    async with httpx.AsyncClient(base_url=monitoring.url) as client:
        calendars = (await client.get("/v1/admin/calendars", headers=ADMIN)).json()
        policies = (await client.get("/v1/sla/policies", headers=auth("CAFE_NORTH"))).json()
    assert [(c["code"], c["calendar"]["holidays_country"]) for c in calendars] == [("ZURICH", "CH")]
    bilateral = next(p for p in policies if p["policy_key"] == "BAKEHOUSE:from-CAFE_NORTH")
    assert (bilateral["calendar_code"], bilateral["calendar"]["time_zone"]) == (
        "ZURICH",
        "Europe/Zurich",
    )
    assert "WHEELS" not in {p["supplier"] for p in policies}  # not the sample company
