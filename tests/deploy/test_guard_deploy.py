"""Issue 23 in the deployment files: fail closed (the image runs in production, a machine's
ports are its own, no cluster holds the well-known keys) and Kafka authenticated where it runs
for real: compose and the Kubernetes overlays give each service a principal whose ACLs are
exactly what its code writes and reads (read from its main.py), and the CLI's operator one."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from supplychain_contracts.company import sample_company
from support.deploy import (
    APP_OVERLAYS,
    DEPLOY,
    OPERATOR_PRINCIPAL,
    ROOT,
    Acl,
    ServiceSpec,
    kafka_acls,
    of_kind,
)

KAFKA_SCRIPTS = DEPLOY / "compose/kafka"


@pytest.fixture(scope="module")
def needed_acls() -> dict[str, set[Acl]]:
    return kafka_acls()


# --- fail closed -------------------------------------------------------------------------------


def test_the_image_runs_in_production_and_listens_on_the_containers_interfaces() -> None:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    env = " ".join(line for line in text.splitlines() if line.strip().startswith("ENV "))
    assert "SUPPLYCHAIN_ENVIRONMENT=production" in env
    assert "HTTP_HOST=0.0.0.0" in env


def test_compose_publishes_every_port_on_this_machine_only(compose: dict[str, Any]) -> None:
    published = {
        name: port
        for name, service in compose["services"].items()
        for port in service.get("ports", [])
    }
    assert published
    for name, port in published.items():
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all interfaces"


def _well_known_key_digests() -> set[str]:
    keys = {f"dev-{d.code.lower()}-{n}" for d in sample_company().departments for n in (1, 2)}
    keys |= {f"dev-{role}-1" for role in ("admin", "finance", "analyst", "operator")}
    return {hashlib.sha256(key.encode()).hexdigest() for key in keys}


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_no_cluster_holds_the_well_known_development_keys(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    digests = _well_known_key_digests()
    for name, secret in of_kind(rendered[overlay], "Secret").items():
        for value in (secret.get("data") or {}).values():
            text = base64.b64decode(value).decode()
            assert not digests & set(re.findall(r"[0-9a-f]{64}", text)), f"{overlay}: {name}"
    # and the clusters run where only configured keys work
    shared = of_kind(rendered[overlay], "ConfigMap")
    environments = {
        cm["data"]["SUPPLYCHAIN_ENVIRONMENT"]
        for cm in shared.values()
        if "SUPPLYCHAIN_ENVIRONMENT" in cm.get("data", {})
    }
    assert environments and environments <= {"staging", "production"}


def test_the_dev_overlays_keys_are_generated_not_committed(tmp_path: Path) -> None:
    """As committed, the dev overlay's key files hold no key; its generator writes fresh ones."""
    overlay = DEPLOY / "k8s/overlays/dev"
    for role in ("department", "admin", "finance", "analyst", "operator"):
        assert (overlay / f"{role}-keys.json").read_text().strip() == "[]", role
    script = overlay / "generate_keys.py"
    copy = tmp_path / "generate_keys.py"
    copy.write_text(script.read_text(encoding="utf-8"), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(copy)], capture_output=True, text=True, timeout=60, check=True
    )
    printed = dict(re.findall(r"^\s+(\S+-1)\s+(\S+)$", run.stdout, flags=re.MULTILINE))
    assert {"admin-1", "finance-1", "analyst-1", "operator-1", "assembly-1"} <= set(printed)
    written = (tmp_path / "admin-keys.json").read_text()
    assert hashlib.sha256(printed["admin-1"].encode()).hexdigest() in written
    assert printed["admin-1"] not in written  # only the digest is written


# --- Kafka in compose --------------------------------------------------------------------------


def test_compose_kafka_authenticates_every_listener_and_authorizes_every_request(
    compose: dict[str, Any], services: dict[str, ServiceSpec]
) -> None:
    kafka = compose["services"]["kafka"]["environment"]
    protocols = dict(
        pair.split(":") for pair in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}, protocols
    assert kafka["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert kafka["KAFKA_SUPER_USERS"] == "User:admin"
    assert kafka["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert kafka["KAFKA_LISTENERS"].count("CONTROLLER://localhost:") == 1
    for name in services:
        env = compose["services"][name]["environment"]
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["KAFKA_SASL_USERNAME"] == name
        variable = f"KAFKA_{name.upper().replace('-', '_')}_PASSWORD"
        assert env["KAFKA_SASL_PASSWORD"].startswith("${" + variable), name


def _run_principals_script(tmp_path: Path) -> list[list[str]]:
    """kafka-principals.sh with the Kafka tools replaced by stubs that log their arguments."""
    log = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kafka-configs.sh", "kafka-acls.sh"):
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n', encoding="utf-8")
        stub.chmod(0o755)
    admin_client = tmp_path / "admin-client.sh"
    admin_client.write_text("echo /tmp/admin.properties\n", encoding="utf-8")
    env = {
        "PATH": os.environ["PATH"],
        "KAFKA_BIN": str(bin_dir),
        "ADMIN_CLIENT_SCRIPT": str(admin_client),
        **{
            f"{who}_PASSWORD": f"{who.lower()}-pw"
            for who in ("ORDER_INTAKE", "FULFILMENT", "INVOICING", "MONITORING", "OPERATOR")
        },
    }
    subprocess.run(
        ["bash", str(KAFKA_SCRIPTS / "kafka-principals.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line.split() for line in log.read_text(encoding="utf-8").splitlines()]


def test_compose_principals_get_exactly_the_acls_their_code_needs(
    tmp_path: Path, needed_acls: dict[str, set[Acl]]
) -> None:
    calls = _run_principals_script(tmp_path)
    users = {
        call[call.index("--entity-name") + 1] for call in calls if call[0] == "kafka-configs.sh"
    }
    assert users == set(needed_acls)
    granted: dict[str, set[Acl]] = {}
    for call in calls:
        if call[0] != "kafka-acls.sh":
            continue
        assert "--add" in call
        principal = call[call.index("--allow-principal") + 1].removeprefix("User:")
        operation = call[call.index("--operation") + 1]
        for flag, name in pairwise(call):
            if flag in ("--topic", "--group"):
                granted.setdefault(principal, set()).add((operation, flag[2:], name))
    for principal, needed in needed_acls.items():
        assert granted.get(principal) == needed, principal


def test_the_admin_client_settings_name_the_admin(tmp_path: Path) -> None:
    run = subprocess.run(
        ["bash", str(KAFKA_SCRIPTS / "admin-client.sh")],
        env={"PATH": os.environ["PATH"], "BROKER_ADMIN_PASSWORD": "s3cret"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    settings = Path(run.stdout.strip()).read_text(encoding="utf-8")
    assert "security.protocol=SASL_PLAINTEXT" in settings
    assert 'username="admin" password="s3cret"' in settings


# --- Kafka in Kubernetes -----------------------------------------------------------------------


def _granted(user: dict[str, Any]) -> set[Acl]:
    return {
        (operation, acl["resource"]["type"], acl["resource"]["name"])
        for acl in user["spec"]["authorization"]["acls"]
        for operation in acl["operations"]
        if acl.get("type", "allow") == "allow"
    }


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_each_kafka_user_grants_exactly_what_its_service_needs(
    rendered: dict[str, list[dict[str, Any]]],
    needed_acls: dict[str, set[Acl]],
    overlay: str,
) -> None:
    users = of_kind(rendered[overlay], "KafkaUser")
    assert set(users) == set(needed_acls)
    for name, user in users.items():
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        assert user["metadata"]["labels"]["strimzi.io/cluster"]
        assert all(
            acl["resource"].get("patternType", "literal") == "literal"
            for acl in user["spec"]["authorization"]["acls"]
        ), f"{name}: a prefix ACL grants more than the topics named"
        assert _granted(user) == needed_acls[name], f"{overlay}: {name}"


@pytest.mark.parametrize("overlay", APP_OVERLAYS)
def test_each_service_authenticates_as_its_kafka_user_over_tls(
    rendered: dict[str, list[dict[str, Any]]], services: dict[str, ServiceSpec], overlay: str
) -> None:
    docs = rendered[overlay]
    shared = of_kind(docs, "ConfigMap")
    for name, deployment in of_kind(docs, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        config = {}
        for source in container["envFrom"]:
            config.update(shared[source["configMapRef"]["name"]]["data"])
        env = {item["name"]: item for item in container["env"]}
        assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert config["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert config["KAFKA_BOOTSTRAP_SERVERS"].endswith(":9093")  # Strimzi's TLS listener
        assert env["KAFKA_SASL_USERNAME"]["value"] == name
        secret = env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert (secret["name"], secret["key"]) == (name, "password")  # made by the User Operator
        ca_dir = str(Path(config["KAFKA_SSL_CAFILE"]).parent)
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == ca_dir)
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        assert volume["secret"]["secretName"] == "supplychain-kafka-ca"
    assert OPERATOR_PRINCIPAL not in of_kind(docs, "Deployment")


def test_keda_reads_the_lag_as_each_services_principal(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["overlays/prod-keda"]
    authentications = of_kind(docs, "TriggerAuthentication")
    for name, scaled in of_kind(docs, "ScaledObject").items():
        kafka = next(t for t in scaled["spec"]["triggers"] if t["type"] == "kafka")
        assert kafka["metadata"]["sasl"] == "scram_sha512"
        assert kafka["metadata"]["tls"] == "enable"
        auth = authentications[kafka["authenticationRef"]["name"]]["spec"]
        password = next(r for r in auth["secretTargetRef"] if r["parameter"] == "password")
        assert password["name"] == name
