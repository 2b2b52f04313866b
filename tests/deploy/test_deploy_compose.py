"""docker-compose.yml: valid against the Compose specification, and a complete local stack."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import jsonschema
import pytest
from supplychain_contracts.topics import (
    ALL_TOPICS,
    COMPACTED_TOPICS,
    all_topics_with_dead_letters,
    dead_letter_topic,
)
from support.deploy import DEPLOY, ROOT, ServiceSpec, load_yaml

INFRA = {"kafka", "topic-init", "postgres", "otel-collector", "jaeger", "prometheus", "grafana"}
INFRA |= {"alertmanager", "alert-webhook"}


def compose_schema() -> dict[str, Any]:
    """The Compose specification schema vendored by check-jsonschema (no download)."""
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(vendored.read_text(encoding="utf-8"))


def test_compose_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = compose_schema()
    assert schema["title"] == "Compose Specification"
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_broken_file(compose: dict[str, Any]) -> None:
    schema = compose_schema()
    broken = {**compose, "services": {**compose["services"], "kafka": {"image": 3, "restart": []}}}
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))


def test_stack_has_every_service_and_the_infrastructure(
    compose: dict[str, Any], services: dict[str, ServiceSpec]
) -> None:
    assert set(compose["services"]) == INFRA | set(services)
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:")
    kafka_env = compose["services"]["kafka"]["environment"]
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # topic-init owns the topics


@pytest.mark.parametrize("name", ["order-intake", "fulfilment", "invoicing", "monitoring"])
def test_app_service_is_built_from_the_dockerfile_and_waits_for_its_dependencies(
    compose: dict[str, Any], services: dict[str, ServiceSpec], name: str
) -> None:
    service = compose["services"][name]
    spec = services[name]
    assert service["build"]["context"] == "."
    assert service["build"]["dockerfile"] == "Dockerfile"
    assert service["build"]["args"]["SERVICE"] == name
    assert service["command"] == [name]
    depends = service["depends_on"]
    for dependency in ("kafka", "postgres"):
        assert depends[dependency]["condition"] == "service_healthy"
        assert "healthcheck" in compose["services"][dependency]
    assert depends["topic-init"]["condition"] == "service_completed_successfully"
    health = service["healthcheck"]["test"]
    assert health[0] == "CMD"
    assert "/health/ready" in health
    limits = service["deploy"]["resources"]["limits"]
    assert float(limits["cpus"]) > 0
    assert limits["memory"]
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert service["ports"] == [f"127.0.0.1:{spec.port}:{spec.port}"]  # this machine only


def test_every_container_has_resource_limits(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service["deploy"]["resources"]["limits"]["memory"], name


def test_postgres_keeps_its_data_in_a_volume(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert "postgres-data" in compose["volumes"]


def test_secrets_come_from_env_file_interpolation_not_literals(compose: dict[str, Any]) -> None:
    postgres_env = compose["services"]["postgres"]["environment"]
    assert postgres_env["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD")
    assert compose["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith(
        "${GRAFANA_ADMIN_PASSWORD"
    )
    for name in ("order-intake", "fulfilment", "invoicing", "monitoring"):
        url = compose["services"][name]["environment"]["DATABASE_URL"]
        assert "${POSTGRES_PASSWORD" in url
        assert "@postgres:5432/" in url


def _interpolated(text: str) -> set[str]:
    return set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))


def test_env_example_defines_exactly_the_interpolated_variables() -> None:
    lines = (ROOT / "docker-compose.yml").read_text(encoding="utf-8").splitlines()
    used = _interpolated("\n".join(line for line in lines if not line.lstrip().startswith("#")))
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    assert used == example, (
        f"only in compose: {used - example}; only in .env.example: {example - used}"
    )


def test_bind_mounted_config_files_exist(compose: dict[str, Any]) -> None:
    mounts = [
        volume.split(":")[0]
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    ]
    assert len(mounts) >= 6
    for source in mounts:
        assert (ROOT / source).exists(), source


def _topic_init_script(compose: dict[str, Any]) -> str:
    init = compose["services"]["topic-init"]
    script_mount = next(v for v in init["volumes"] if "create-topics.sh" in v)
    return (ROOT / script_mount.split(":")[0]).read_text(encoding="utf-8")


def _topic_init_topics(compose: dict[str, Any]) -> dict[str, tuple[int, str]]:
    init = compose["services"]["topic-init"]
    script_mount = next(v for v in init["volumes"] if "create-topics.sh" in v)
    script = _topic_init_script(compose)
    assert script_mount.split(":")[1] in init["entrypoint"]
    return {
        topic: (int(partitions), retention)
        for topic, partitions, retention in re.findall(
            r"^create_topic (\S+) (\d+) (\S+)(?: compact)?$", script, flags=re.MULTILINE
        )
    }


def test_topic_init_creates_every_contract_topic_and_its_dead_letter_twin(
    compose: dict[str, Any],
) -> None:
    created = _topic_init_topics(compose)
    assert set(created) == set(all_topics_with_dead_letters())
    for topic in ALL_TOPICS:
        partitions, retention = created[topic]
        assert partitions >= 2, f"{topic}: one partition would allow only one consumer per group"
        assert created[dead_letter_topic(topic)][1] == '"$MONTH_MS"'
        # reference data is compacted and kept for good; events are kept a week
        assert retention == ("-1" if topic in COMPACTED_TOPICS else '"$WEEK_MS"')
    script = _topic_init_script(compose)
    for topic in COMPACTED_TOPICS:
        assert re.search(rf"^create_topic {re.escape(topic)} \d+ -1 compact$", script, re.MULTILINE)
    assert (
        compose["services"]["topic-init"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    )


def test_observability_services_are_wired(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    assert any(v.endswith("/etc/prometheus/alerts.yml:ro") for v in prometheus["volumes"])
    grafana = compose["services"]["grafana"]
    assert any("/etc/grafana/provisioning" in v for v in grafana["volumes"])
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DEPLOY / "compose/grafana/dashboards" / home.rsplit("/", 1)[1]).exists()
    assert compose["services"]["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    # exemplars are stored (Grafana links them to their traces)
    assert "--enable-feature=exemplar-storage" in prometheus["command"]


def _mounted(service: dict[str, Any], target: str) -> str:
    """The host file bind-mounted at `target` in the container."""
    (source,) = (v.split(":")[0] for v in service["volumes"] if v.split(":")[1] == target)
    assert (ROOT / source).is_file(), source
    return source


def test_alertmanager_receives_prometheus_alerts_and_posts_them_to_the_webhook(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    prometheus, alertmanager, webhook = (
        services[name] for name in ("prometheus", "alertmanager", "alert-webhook")
    )
    assert prometheus["depends_on"]["alertmanager"]["condition"] == "service_healthy"
    assert "/-/ready" in alertmanager["healthcheck"]["test"][-1]
    config_flag = next(a for a in alertmanager["command"] if a.startswith("--config.file="))
    config = load_yaml(ROOT / _mounted(alertmanager, config_flag.split("=", 1)[1]))
    script = _mounted(webhook, webhook["command"][-1])
    assert script.endswith("webhook_sink.py")
    # every receiver posts to the example sink, on the port it listens on by default
    urls = [w["url"] for r in config["receivers"] for w in r.get("webhook_configs", [])]
    assert urls == ["http://alert-webhook:8080/alerts"]
    assert "alert-webhook" in alertmanager["depends_on"]
    assert webhook["read_only"] is True
    assert webhook["cap_drop"] == ["ALL"]
