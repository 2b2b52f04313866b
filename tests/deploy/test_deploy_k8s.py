"""deploy/k8s: every overlay renders, is valid against the Kubernetes schemas, and holds what a
production deployment needs (probes, limits, restricted securityContext, HPA, PDB, policies)."""

from __future__ import annotations

from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from supplychain_contracts.topics import ALL_TOPICS, COMPACTED_TOPICS, all_topics_with_dead_letters
from support.deploy import APP_OVERLAYS, OVERLAYS, ServiceSpec, of_kind

KUBERNETES_VERSION = "1.30.0"
CRD_KINDS = {"ServiceMonitor", "KafkaTopic", "ScaledObject", "KafkaUser", "TriggerAuthentication"}
LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of")

_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _NAME, "namespace": {"type": "string"}, "labels": {"type": "object"}},
}
# A Strimzi resource names the Kafka cluster it belongs to.
_STRIMZI_METADATA = {
    **_METADATA,
    "required": ["name", "labels"],
    "properties": {
        **_METADATA["properties"],
        "labels": {"type": "object", "required": ["strimzi.io/cluster"]},
    },
}
# Structural schemas of the custom resources used (the operators' CRDs are not installed here):
# the fields this repository sets, with their types, and no unknown fields at those levels.
CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "additionalProperties": False,
                "properties": {
                    "selector": {
                        "type": "object",
                        "required": ["matchLabels"],
                        "properties": {"matchLabels": {"type": "object", "minProperties": 1}},
                    },
                    "namespaceSelector": {"type": "object"},
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["port", "path"],
                            "properties": {
                                "port": {"type": "string"},
                                "path": {"type": "string", "pattern": "^/"},
                                "interval": {"type": "string", "pattern": r"^\d+[smh]$"},
                                "scrapeTimeout": {"type": "string", "pattern": r"^\d+[smh]$"},
                                "honorLabels": {"type": "boolean"},
                            },
                        },
                    },
                },
            },
        },
    },
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _STRIMZI_METADATA,
            "spec": {
                "type": "object",
                "required": ["topicName", "partitions", "replicas", "config"],
                "additionalProperties": False,
                "properties": {
                    "topicName": {"type": "string"},
                    "partitions": {"type": "integer", "minimum": 1},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                    "config": {
                        "type": "object",
                        "required": ["retention.ms"],
                        "additionalProperties": {"type": ["string", "integer", "boolean"]},
                    },
                },
            },
        },
    },
    # Strimzi's KafkaUser (v1beta2): the fields and enums of its CRD this repository uses
    ("kafka.strimzi.io/v1beta2", "KafkaUser"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _STRIMZI_METADATA,
            "spec": {
                "type": "object",
                "required": ["authentication", "authorization"],
                "additionalProperties": False,
                "properties": {
                    "authentication": {
                        "type": "object",
                        "required": ["type"],
                        "additionalProperties": False,
                        "properties": {"type": {"enum": ["tls", "tls-external", "scram-sha-512"]}},
                    },
                    "authorization": {
                        "type": "object",
                        "required": ["type", "acls"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"enum": ["simple"]},
                            "acls": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "required": ["resource", "operations"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "type": {"enum": ["allow", "deny"]},
                                        "host": {"type": "string"},
                                        "resource": {
                                            "type": "object",
                                            "required": ["type"],
                                            "additionalProperties": False,
                                            "properties": {
                                                "type": {
                                                    "enum": [
                                                        "topic",
                                                        "group",
                                                        "cluster",
                                                        "transactionalId",
                                                    ]
                                                },
                                                "name": {"type": "string"},
                                                "patternType": {"enum": ["literal", "prefix"]},
                                            },
                                        },
                                        "operations": {
                                            "type": "array",
                                            "minItems": 1,
                                            "items": {
                                                "enum": [
                                                    "Read",
                                                    "Write",
                                                    "Create",
                                                    "Delete",
                                                    "Alter",
                                                    "Describe",
                                                    "ClusterAction",
                                                    "AlterConfigs",
                                                    "DescribeConfigs",
                                                    "IdempotentWrite",
                                                    "All",
                                                ]
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    ("keda.sh/v1alpha1", "TriggerAuthentication"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "env": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["parameter", "name"],
                            "additionalProperties": False,
                            "properties": {
                                "parameter": {"type": "string"},
                                "name": {"type": "string"},
                                "containerName": {"type": "string"},
                            },
                        },
                    },
                    "secretTargetRef": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["parameter", "name", "key"],
                            "additionalProperties": False,
                            "properties": {
                                "parameter": {"type": "string"},
                                "name": {"type": "string"},
                                "key": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
    ("keda.sh/v1alpha1", "ScaledObject"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "additionalProperties": False,
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": {"type": "string"}, "kind": {"type": "string"}},
                    },
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "pollingInterval": {"type": "integer"},
                    "cooldownPeriod": {"type": "integer"},
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "properties": {
                                "type": {"type": "string"},
                                "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                                "metadata": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_is_valid_against_the_kubernetes_schemas(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    assert docs, overlay
    for doc in docs:
        where = f"{overlay}: {doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in CRD_KINDS:
            schema = CRD_SCHEMAS[(doc["apiVersion"], doc["kind"])]
            errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
            assert not errors, f"{where}: " + "; ".join(e.message for e in errors)
        else:
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{where}: {error.message} at {list(error.path)}")


def test_the_kubernetes_schema_check_catches_a_typo(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    deployment = next(d for d in rendered["overlays/prod"] if d["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_each_service_has_its_deployment_service_pdb_policy_and_monitor(
    rendered: dict[str, list[dict[str, Any]]], services: dict[str, ServiceSpec], overlay: str
) -> None:
    docs = rendered[overlay]
    for kind in ("Deployment", "Service", "PodDisruptionBudget", "ServiceMonitor"):
        assert set(of_kind(docs, kind)) == set(services), f"{overlay}: {kind}"
    policies = of_kind(docs, "NetworkPolicy")
    assert {f"{name}-ingress" for name in services} <= set(policies)
    namespaces = {d["metadata"].get("namespace") for d in docs}
    assert len(namespaces) == 1, namespaces
    assert None not in namespaces


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_deployments_are_probed_limited_and_restricted(
    rendered: dict[str, list[dict[str, Any]]], services: dict[str, ServiceSpec], overlay: str
) -> None:
    for name, deployment in of_kind(rendered[overlay], "Deployment").items():
        spec = services[name]
        for labels in (
            deployment["metadata"]["labels"],
            deployment["spec"]["template"]["metadata"]["labels"],
        ):
            assert all(labels.get(label) for label in LABELS), labels
            assert labels["app.kubernetes.io/name"] == name
            assert labels["app.kubernetes.io/part-of"] == "supplychain"
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        (container,) = pod["containers"]
        assert container["args"] == [name]
        assert container["ports"][0]["containerPort"] == spec.port
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] in ("http", spec.port)
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"])
        assert {"cpu", "memory"} <= set(resources["limits"])
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        assert security["seccompProfile"]["type"] == "RuntimeDefault"
        tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
        volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
        assert "emptyDir" in volume


def test_prod_pins_the_image_and_references_externally_managed_secrets(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    prod = rendered["overlays/prod"]
    assert not of_kind(prod, "Secret"), "prod must not carry Secrets: they are managed outside"
    for deployment in of_kind(prod, "Deployment").values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        image = container["image"]
        assert ":" in image, image
        assert not image.endswith((":latest", ":dev")), image
        env = {e["name"]: e for e in container.get("env", [])}
        ref = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == f"{deployment['metadata']['name']}-database"
        assert ref["key"] == "url"
        assert "value" not in env["DATABASE_URL"]


def test_dev_generates_the_example_secrets_it_references(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    dev = rendered["overlays/dev"]
    secrets = of_kind(dev, "Secret")
    for deployment in of_kind(dev, "Deployment").values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        ref = next(e for e in container["env"] if e["name"] == "DATABASE_URL")["valueFrom"][
            "secretKeyRef"
        ]
        assert ref["name"] in secrets
        assert ref["key"] in secrets[ref["name"]]["data"]


def _partitions(rendered: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    return {
        t["spec"]["topicName"]: t["spec"]["partitions"]
        for t in of_kind(rendered["kafka-topics"], "KafkaTopic").values()
    }


def test_kafka_topic_for_every_contract_topic_and_dead_letter_twin(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    topics = of_kind(rendered["kafka-topics"], "KafkaTopic")
    assert set(_partitions(rendered)) == set(all_topics_with_dead_letters())
    for topic in topics.values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"]
        config = topic["spec"]["config"]
        if topic["spec"]["topicName"] in COMPACTED_TOPICS:  # the latest per key, for good
            assert config["cleanup.policy"] == "compact"
            assert int(config["retention.ms"]) == -1
        else:
            assert config["cleanup.policy"] == "delete"
            assert int(config["retention.ms"]) > 0
        assert topic["spec"]["config"]["min.insync.replicas"] < topic["spec"]["replicas"]


@pytest.mark.parametrize("overlay", ["overlays/dev", "overlays/prod"])
def test_hpa_per_consumer_service_bounded_by_partitions(
    rendered: dict[str, list[dict[str, Any]]], services: dict[str, ServiceSpec], overlay: str
) -> None:
    hpas = of_kind(rendered[overlay], "HorizontalPodAutoscaler")
    assert set(hpas) == set(services)
    fewest_partitions = min(_partitions(rendered)[t] for t in ALL_TOPICS)
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        # more consumers in a group than partitions sit idle
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= fewest_partitions


def test_keda_overlay_replaces_the_cpu_hpas_with_lag_scaled_objects(
    rendered: dict[str, list[dict[str, Any]]], services: dict[str, ServiceSpec]
) -> None:
    docs = rendered["overlays/prod-keda"]
    assert not of_kind(docs, "HorizontalPodAutoscaler")
    scaled = of_kind(docs, "ScaledObject")
    assert set(scaled) == set(services)
    deployments = of_kind(docs, "Deployment")
    for name, obj in scaled.items():
        assert obj["spec"]["scaleTargetRef"]["name"] in deployments
        kafka = next(t for t in obj["spec"]["triggers"] if t["type"] == "kafka")
        assert kafka["metadata"]["consumerGroup"] == name  # the consumer group is the service name
        assert obj["spec"]["maxReplicaCount"] <= min(_partitions(rendered)[t] for t in ALL_TOPICS)


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_network_policies_deny_by_default_and_allow_only_what_must_talk(
    rendered: dict[str, list[dict[str, Any]]], services: dict[str, ServiceSpec], overlay: str
) -> None:
    policies = of_kind(rendered[overlay], "NetworkPolicy")
    deny = policies["default-deny-all"]
    assert deny["spec"]["podSelector"] == {}
    assert set(deny["spec"]["policyTypes"]) == {
        "Ingress",
        "Egress",
    }
    assert "ingress" not in deny["spec"]
    assert "egress" not in deny["spec"]
    for name, spec in services.items():
        ingress = policies[f"{name}-ingress"]["spec"]
        assert ingress["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == name
        (rule,) = ingress["ingress"]
        assert [p["port"] for p in rule["ports"]] == [spec.port]
        sources = {
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for peer in rule["from"]
        }
        assert sources == {"ingress-nginx", "monitoring"}
    egress = policies["supplychain-egress"]["spec"]
    assert egress["policyTypes"] == ["Egress"]
    ports = {port["port"] for rule in egress["egress"] for port in rule["ports"]}
    assert ports == {53, 9092, 9093, 5432, 4317, 4318}  # DNS, Kafka, PostgreSQL, OTLP
    assert all(rule.get("to") for rule in egress["egress"]), "every egress rule names its peers"


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_service_monitors_scrape_the_metrics_port_of_each_service(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    kube_services = of_kind(docs, "Service")
    for name, monitor in of_kind(docs, "ServiceMonitor").items():
        service = kube_services[name]
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert selector.items() <= service["metadata"]["labels"].items()
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
        assert endpoint["honorLabels"] is True  # keep the services' own `service` label
