"""Session fixtures of the deployment checks (helpers in support.deploy)."""

from __future__ import annotations

from typing import Any

import pytest
from support.deploy import OVERLAYS, ROOT, SERVICES, ServiceSpec, load_yaml, render


@pytest.fixture(scope="session")
def services() -> dict[str, ServiceSpec]:
    assert set(SERVICES) == {"order-intake", "fulfilment", "invoicing", "monitoring"}, SERVICES
    return SERVICES


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return load_yaml(ROOT / "docker-compose.yml")


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Every kustomization rendered once: its path under deploy/k8s → its resources."""
    return {overlay: render(overlay) for overlay in OVERLAYS}
