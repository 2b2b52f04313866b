"""The subscriber kit: the contracts package builds as a wheel that installs on its own into a
clean virtualenv (no workspace, no service code) and carries its JSON Schemas and
`parse_event`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "bin" / "uv"

IN_CLEAN_VENV = textwrap.dedent(
    """
    import json, sys
    from uuid import uuid4

    import supplychain_contracts
    from supplychain_contracts import OrderShipped, parse_event, topics
    from supplychain_contracts.registry import all_event_models
    from supplychain_contracts.schemas import PUBLISHED_DIR, published_schemas

    shipped = OrderShipped(
        order_id=uuid4(), root_order_id=uuid4(), producer="fulfilment",
        supplier="WHEELS", requester="ASSEMBLY",
    )
    unknown = {**json.loads(shipped.model_dump_json()), "event_type": "OrderTeleported"}
    parsed = parse_event(topics.FULFILMENT, shipped.model_dump_json().encode(),
                         [("event_type", b"OrderShipped")])
    schemas = published_schemas()
    print(json.dumps({
        "module": supplychain_contracts.__file__,
        "schemas_dir": str(PUBLISHED_DIR),
        "schemas": sorted(schemas),
        "models": len(all_event_models()),
        "envelope": sorted(schemas["OrderShipped.v1.json"]["properties"]),
        "company_schema": (PUBLISHED_DIR / "company" / "Company.v1.json").is_file(),
        "parsed_equal": parsed == shipped,
        "parsed_type": type(parsed).__name__,
        "unknown": repr(parse_event(topics.FULFILMENT, json.dumps(unknown))),
        "sys_path_has_workspace": any("/libs/" in p for p in sys.path),
    }))
    """
)


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload,no-any-return]


def install(venv_python: Path, wheel: Path, constraints: Path) -> None:
    """Into the clean venv with uv, the dependencies pinned as uv.lock pins them: from uv's
    cache when it has them (offline), else from PyPI (test setup may install)."""
    command = [str(UV), "pip", "install", "--python", str(venv_python), "-c", str(constraints)]
    offline = run([*command, str(wheel)], env={**os.environ, "UV_OFFLINE": "1"}, timeout=120)
    if offline.returncode == 0:
        return
    online = run([*command, str(wheel)], timeout=300)
    assert online.returncode == 0, (
        "the contracts wheel did not install into a clean venv, neither from uv's cache nor "
        f"from PyPI:\n{offline.stderr}\n{online.stderr}"
    )


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("contracts-wheel")
    built = run(
        [str(UV), "build", "--wheel", "libs/contracts", "--out-dir", str(root / "dist")],
        cwd=ROOT,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = (root / "dist").glob("supplychain_contracts-*.whl")
    constraints = root / "constraints.txt"
    exported = run(
        [str(UV), "export", "--frozen", "--no-hashes", "--no-dev", "--no-emit-workspace",
         "--no-header", "--package", "supplychain-contracts"],
        cwd=ROOT,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(ROOT / ".venv")},
        timeout=60,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    constraints.write_text(exported.stdout, encoding="utf-8")
    venv = root / "venv"
    created = run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    assert created.returncode == 0, created.stderr
    install(venv / "bin" / "python", wheel, constraints)
    return venv


def test_the_wheel_installs_alone_and_carries_schemas_and_parse_event(clean_venv: Path) -> None:
    # run outside the repository, with nothing of the workspace on the path
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = run(
        [str(clean_venv / "bin" / "python"), "-I", "-c", IN_CLEAN_VENV],
        cwd=clean_venv,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["module"].startswith(str(clean_venv)), seen["module"]
    assert seen["schemas_dir"].startswith(str(clean_venv))
    assert not seen["sys_path_has_workspace"]
    assert len(seen["schemas"]) == seen["models"] >= 21
    assert "OrderShipped.v1.json" in seen["schemas"]
    assert {"event_id", "event_type", "order_id", "root_order_id", "producer"} <= set(
        seen["envelope"]
    )
    assert seen["company_schema"]
    assert seen["parsed_equal"] and seen["parsed_type"] == "OrderShipped"
    assert seen["unknown"] == "None"


def test_the_wheel_needs_no_workspace_package(clean_venv: Path) -> None:
    listed = run(
        [
            str(UV),
            "pip",
            "list",
            "--python",
            str(clean_venv / "bin" / "python"),
            "--format",
            "json",
        ],
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    names = {package["name"] for package in json.loads(listed.stdout)}
    assert "supplychain-contracts" in names
    assert {"pydantic", "pyyaml"} <= names
    assert not names & {"supplychain-kit", "faststream", "fastapi", "asyncpg"}
