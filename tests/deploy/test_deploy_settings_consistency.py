"""Compose and Kubernetes agree with the code: the services, their ports, the topics and the
environment variables are read from the settings classes and the contracts, not from a copy."""

from __future__ import annotations

import re
from typing import Any

import pytest
from supplychain_kit.settings import environment_variables
from support.deploy import APP_OVERLAYS, ROOT, ServiceSpec, load_yaml, of_kind

# Without these a service cannot reach its broker, its database, its collector, or be reached.
REQUIRED = {
    "KAFKA_BOOTSTRAP_SERVERS",
    "DATABASE_URL",
    "OTEL_SERVICE_NAME",
    "HTTP_PORT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "HTTP_HOST",  # the default 127.0.0.1 would be unreachable from outside the container
    "KAFKA_ENABLE_IDEMPOTENCE",  # Apache Kafka has the idempotent producer Tansu lacks
    "SUPPLYCHAIN_ENVIRONMENT",  # no default: a service refuses to start without one
    # Kafka runs for real there: each service authenticates as its own principal
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
}


def compose_environment(compose: dict[str, Any], name: str) -> dict[str, str]:
    return {key: str(value) for key, value in compose["services"][name]["environment"].items()}


# Stand-ins for the values Kubernetes takes from Secrets (None in k8s_environment).
SECRET_VALUES = {
    "database_url": "postgresql://u:p@db:5432/x",
    "department_api_keys": '[{"key_id": "k", "department": "ASSEMBLY", "sha256": "00"}]',
    "admin_api_keys": '[{"key_id": "a", "sha256": "00"}]',
    "kafka_sasl_password": "from-the-kafka-user-secret",
}


def k8s_environment(docs: list[dict[str, Any]], name: str) -> dict[str, str | None]:
    """Variables of the service's container: envFrom ConfigMaps, then env (None: from a Secret)."""
    config_maps = of_kind(docs, "ConfigMap")
    (container,) = of_kind(docs, "Deployment")[name]["spec"]["template"]["spec"]["containers"]
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]]["data"])
    for item in container.get("env", []):
        env[item["name"]] = item.get("value")
    return env


def test_settings_classes_declare_the_contract_ports(services: dict[str, ServiceSpec]) -> None:
    assert {name: spec.port for name, spec in services.items()} == {
        "order-intake": 8001,
        "fulfilment": 8002,
        "invoicing": 8003,
        "monitoring": 8004,
    }
    for spec in services.values():
        assert spec.env_vars >= REQUIRED, spec.settings_cls


@pytest.mark.parametrize("name", ["order-intake", "fulfilment", "invoicing", "monitoring"])
def test_compose_sets_only_variables_the_service_reads(
    compose: dict[str, Any], services: dict[str, ServiceSpec], name: str
) -> None:
    spec = services[name]
    env = compose_environment(compose, name)
    unknown = set(env) - spec.env_vars
    assert not unknown, f"{name} does not read {sorted(unknown)} (typo?)"
    missing = REQUIRED - set(env)
    assert not missing, f"compose does not set {sorted(missing)} for {name}"
    assert env["OTEL_SERVICE_NAME"] == spec.name
    assert int(env["HTTP_PORT"]) == spec.port
    assert env["KAFKA_ENABLE_IDEMPOTENCE"] == "true"
    # the settings class accepts the values compose passes (interpolations at their defaults)
    resolved = {k: re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", v) for k, v in env.items()}
    settings = spec.settings_cls.model_validate(
        {alias_field(spec, key): value for key, value in resolved.items()}
    )
    assert settings.http_port == spec.port
    assert settings.http_host == "0.0.0.0"


def alias_field(spec: ServiceSpec, variable: str) -> str:
    """The field name model_validate accepts for an environment variable (populate_by_name)."""
    return environment_variables(spec.settings_cls)[variable]


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
@pytest.mark.parametrize("name", ["order-intake", "fulfilment", "invoicing", "monitoring"])
def test_kubernetes_sets_only_variables_the_service_reads(
    rendered: dict[str, list[dict[str, Any]]],
    services: dict[str, ServiceSpec],
    overlay: str,
    name: str,
) -> None:
    spec = services[name]
    env = k8s_environment(rendered[overlay], name)
    unknown = set(env) - spec.env_vars
    assert not unknown, f"{overlay}: {name} does not read {sorted(unknown)} (typo?)"
    missing = REQUIRED - set(env)
    assert not missing, f"{overlay} does not set {sorted(missing)} for {name}"
    assert env["OTEL_SERVICE_NAME"] == spec.name
    assert int(env["HTTP_PORT"] or 0) == spec.port
    plain = {alias_field(spec, k): v for k, v in env.items() if v is not None}
    settings = spec.settings_cls.model_validate(plain | SECRET_VALUES)
    assert settings.http_port == spec.port
    assert settings.kafka_enable_idempotence is True


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_kubernetes_ports_match_the_settings(
    rendered: dict[str, list[dict[str, Any]]], services: dict[str, ServiceSpec], overlay: str
) -> None:
    docs = rendered[overlay]
    for name, service in of_kind(docs, "Service").items():
        (port,) = service["spec"]["ports"]
        assert port["port"] == services[name].port
        assert port["targetPort"] == "http"


def test_prometheus_scrapes_each_service_on_its_port(services: dict[str, ServiceSpec]) -> None:
    config = load_yaml(ROOT / "deploy/compose/prometheus/prometheus.yml")
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "supplychain")
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    assert targets == {f"{name}:{spec.port}" for name, spec in services.items()}
    assert job["metrics_path"] == "/metrics"
    assert job["honor_labels"] is True


def test_production_settings_are_accepted_by_the_validators(
    rendered: dict[str, list[dict[str, Any]]], services: dict[str, ServiceSpec]
) -> None:
    """prod sets SUPPLYCHAIN_ENVIRONMENT=production, where default credentials are refused."""
    spec = services["fulfilment"]
    env = k8s_environment(rendered["overlays/prod"], "fulfilment")
    assert env["SUPPLYCHAIN_ENVIRONMENT"] == "production"
    plain = {alias_field(spec, k): v for k, v in env.items() if v is not None}
    with pytest.raises(ValueError, match="default postgres credentials"):
        spec.settings_cls.model_validate(
            plain | SECRET_VALUES | {"database_url": "postgresql://postgres@db/x"}
        )
