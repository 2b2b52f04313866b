"""Fresh API keys for the dev cluster: `make k8s-dev-keys` (or `python generate_keys.py`).

Writes the sha256 of a new random key per department (of the company file the dev overlay
loads, the sample company unless COMPANY_FILE names another) and per role (admin, finance,
analyst, operator) into the *-keys.json files beside this script, which the overlay's
secretGenerator turns into the Secrets, and prints each key once, here only. As committed, the
files hold no key at all (nobody can call the dev cluster until keys are generated): the
well-known dev-* keys never leave `local`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

from supplychain_contracts.company import sample_company
from supplychain_contracts.company_file import load_company_file

HERE = Path(__file__).resolve().parent
ROLES = ("admin", "finance", "analyst", "operator")


def new_key(prefix: str) -> tuple[str, str]:
    """A key and its sha256 (what the service is configured with)."""
    key = f"{prefix}-{secrets.token_urlsafe(24)}"
    return key, hashlib.sha256(key.encode()).hexdigest()


def main() -> None:
    company_file = os.environ.get("COMPANY_FILE")
    company = load_company_file(company_file) if company_file else sample_company()
    printed: list[tuple[str, str]] = []
    departments = []
    for department in company.departments:
        key_id = f"{department.code.lower()}-1"
        key, digest = new_key(department.code.lower())
        departments.append({"key_id": key_id, "department": department.code, "sha256": digest})
        printed.append((key_id, key))
    (HERE / "department-keys.json").write_text(json.dumps(departments, indent=1) + "\n")
    for role in ROLES:
        key, digest = new_key(role)
        entries = [{"key_id": f"{role}-1", "sha256": digest}]
        (HERE / f"{role}-keys.json").write_text(json.dumps(entries, indent=1) + "\n")
        printed.append((f"{role}-1", key))
    print("New dev-cluster keys (shown once; only their sha256 is written):")
    for key_id, key in printed:
        print(f"  {key_id:<20} {key}")
    print("Apply them: kubectl apply -k deploy/k8s/overlays/dev (do not commit the files)")


if __name__ == "__main__":
    main()
