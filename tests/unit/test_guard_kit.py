"""Issue 23 in the kit, without a broker or a database: no default environment, Kafka's
security options for every client, the per-key rate limit (token buckets, 429 problem+json with
Retry-After, probes exempt), and bounded metric labels."""

from __future__ import annotations

import hashlib
import json
import ssl
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pydantic import ValidationError
from supplychain_devstack.stack import Stack, StackConfig
from supplychain_kit.http.asgi import ObserveRequests, method_label
from supplychain_kit.http.rate_limit import Buckets, RateLimit, TokenBucket
from supplychain_kit.kafka_security import broker_security, kafka_client_options
from supplychain_kit.settings import ServiceSettings, load_settings

KEYS = json.dumps(
    [{"key_id": "ops", "department": "ASSEMBLY", "sha256": hashlib.sha256(b"k").hexdigest()}]
)


def settings(**values: object) -> ServiceSettings:
    return ServiceSettings(**{"environment": "test", **values})  # type: ignore[arg-type]


# --- fail closed -----------------------------------------------------------------------------


def test_settings_without_an_environment_are_refused_saying_how_to_set_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SUPPLYCHAIN_ENVIRONMENT", raising=False)
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "never-printed")
    with pytest.raises(ValidationError, match="SUPPLYCHAIN_ENVIRONMENT is not set"):
        ServiceSettings()
    with pytest.raises(SystemExit) as refused:
        load_settings(ServiceSettings)
    message = str(refused.value.code)
    assert "SUPPLYCHAIN_ENVIRONMENT=local|test|staging|production" in message
    assert "never-printed" not in message  # a refusal never shows a value


def test_make_run_sets_the_local_environment_explicitly(tmp_path: Path) -> None:
    stack = Stack(StackConfig(data_dir=tmp_path))
    assert stack.service_env()["SUPPLYCHAIN_ENVIRONMENT"] == "local"


def test_an_environment_is_one_of_four_and_the_bind_address_defaults_to_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUPPLYCHAIN_ENVIRONMENT", "prod")
    with pytest.raises(ValidationError):
        ServiceSettings()
    assert settings().http_host == "127.0.0.1"
    assert settings().development_keys_allowed
    staging = settings(environment="staging", department_api_keys=KEYS, admin_api_keys="[]")
    assert not staging.development_keys_allowed


def test_kafka_must_be_authenticated_in_production() -> None:
    keys = {
        "department_api_keys": KEYS,
        "admin_api_keys": "[]",
        "database_url": "postgresql://app:secret@db/app",
    }
    with pytest.raises(ValidationError, match="Kafka must be authenticated"):
        settings(environment="production", **keys)
    with pytest.raises(ValidationError, match="needs KAFKA_SASL_USERNAME"):
        settings(kafka_security_protocol="SASL_SSL")
    mutual_tls = settings(
        environment="production", kafka_security_protocol="SSL", kafka_ssl_certfile="c", **keys
    )
    assert mutual_tls.kafka_security_protocol == "SSL"


# --- Kafka clients ---------------------------------------------------------------------------


def test_plaintext_kafka_takes_no_options() -> None:
    assert kafka_client_options(settings()) == {}
    assert broker_security(settings()) is None


def test_sasl_scram_options_reach_every_client_kind() -> None:
    scram = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="fulfilment",
        kafka_sasl_password="secret",
    )
    options = kafka_client_options(scram)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "fulfilment"
    assert options["sasl_plain_password"] == "secret"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert "secret" not in repr(scram)  # the password is a secret in the settings
    security = broker_security(scram)
    assert security is not None
    assert security.use_ssl
    assert type(security).__name__ == "SASLScram512"
    # inside a private network (compose): SASL without TLS, no SSL context
    plain = settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="monitoring",
        kafka_sasl_password="pw",
    )
    assert kafka_client_options(plain)["ssl_context"] is None
    assert broker_security(plain).use_ssl is False  # type: ignore[union-attr]


async def test_the_kit_builds_its_clients_with_the_options() -> None:
    """The broker (consumers and publishers), the relay's producer and the lag probe."""
    from supplychain_kit.messaging.lag import LagProbe
    from supplychain_kit.runtime import create_broker, create_relay_producer

    scram = settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="invoicing",
        kafka_sasl_password="pw",
    )
    producer = create_relay_producer(scram)
    assert producer.client._security_protocol == "SASL_PLAINTEXT"
    assert producer.client._sasl_plain_username == "invoicing"
    # the broker's subscribers are built with its client options
    consumer_options = create_broker(scram).config.broker_config.builder.keywords
    assert consumer_options["sasl_plain_username"] == "invoicing"
    assert consumer_options["security_protocol"] == "SASL_PLAINTEXT"
    probe = LagProbe("127.0.0.1:1", client_id="x", security=kafka_client_options(scram))
    assert probe._consumer._client._sasl_mechanism == "SCRAM-SHA-512"


# --- rate limit ------------------------------------------------------------------------------


def test_a_token_bucket_admits_its_burst_then_its_rate() -> None:
    bucket = TokenBucket(rate=2, burst=3, tokens=3, updated=0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0  # one token came back in half a second
    assert bucket.take(0.5) == pytest.approx(0.5)


def test_buckets_are_per_caller_and_bounded() -> None:
    buckets = Buckets(rate=1, burst=1, max_callers=2)
    assert buckets.take("a", 0) == 0.0
    assert buckets.take("a", 0) > 0
    assert buckets.take("b", 0) == 0.0  # another key has its own
    buckets.take("c", 0)
    assert len(buckets._buckets) == 2  # the least recently seen was forgotten


def _limited_app(per_second: float, burst: int, now: list[float]) -> FastAPI:
    app = FastAPI()
    app.state.runtime = SimpleNamespace(settings=settings(department_api_keys=KEYS))

    @app.get("/v1/things")
    async def things() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(
        RateLimit, service="guard-test", per_second=per_second, burst=burst, clock=lambda: now[0]
    )
    return app


async def test_a_key_over_its_limit_gets_429_problem_with_retry_after() -> None:
    now = [100.0]
    transport = httpx.ASGITransport(app=_limited_app(per_second=1, burst=2, now=now))
    key = {"Authorization": "Bearer k"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert [(await client.get("/v1/things", headers=key)).status_code for _ in range(2)] == [
            200,
            200,
        ]
        refused = await client.get("/v1/things", headers=key)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "1"
        body = refused.json()
        assert body["status"] == 429
        assert body["retry_after_s"] == 1
        assert "at most 1 a second" in body["detail"]
        # probes are exempt; an unknown key is counted against its address, not a new bucket
        assert (await client.get("/health/live", headers=key)).status_code == 200
        unknown = [
            (await client.get("/v1/things", headers={"Authorization": f"Bearer x{i}"})).status_code
            for i in range(3)
        ]
        assert unknown == [200, 200, 429]
        now[0] += 1.0
        assert (await client.get("/v1/things", headers=key)).status_code == 200
    limited = REGISTRY.get_sample_value(
        "supplychain_http_rate_limited_total", {"service": "guard-test"}
    )
    assert limited is not None
    assert limited >= 2


async def test_a_zero_rate_turns_the_limit_off() -> None:
    transport = httpx.ASGITransport(app=_limited_app(per_second=0, burst=1, now=[0.0]))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        codes = {(await client.get("/v1/things")).status_code for _ in range(5)}
    assert codes == {200}


# --- bounded labels --------------------------------------------------------------------------


async def test_unknown_methods_fold_into_one_label_value() -> None:
    assert method_label("GET") == "GET"
    assert method_label("PROPFIND") == "other"
    app = FastAPI()
    app.add_middleware(ObserveRequests, service="guard-labels")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for method in ("FOO1", "FOO2", "FOO3"):
            await client.request(method, "/anything")
    methods = {
        sample.labels["method"]
        for metric in REGISTRY.collect()
        if metric.name == "supplychain_http_request_duration_seconds"
        for sample in metric.samples
        if sample.labels.get("service") == "guard-labels"
    }
    assert methods == {"other"}
