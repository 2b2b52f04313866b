"""How every Kafka client of a service authenticates: the SASL/TLS settings (KAFKA_SECURITY_PROTOCOL,
KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SSL_CAFILE, ...) as the
keyword arguments of an aiokafka client, and as FastStream's security object for the broker.

Where Kafka runs for real (compose, Kubernetes) each service is a principal of its own whose
ACLs name the topics it writes and reads; the embedded Tansu of `make run` and the tests stays
PLAINTEXT on 127.0.0.1.
"""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from supplychain_kit.settings import ServiceSettings

_SASL = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}


def _ssl_context(settings: ServiceSettings) -> ssl.SSLContext | None:
    if not settings.kafka_security_protocol.endswith("SSL"):
        return None
    context: ssl.SSLContext = create_ssl_context(
        cafile=settings.kafka_ssl_cafile,
        certfile=settings.kafka_ssl_certfile,
        keyfile=settings.kafka_ssl_keyfile,
    )
    return context


def kafka_client_options(settings: ServiceSettings) -> dict[str, Any]:
    """The security keyword arguments of an aiokafka client (producer, consumer, admin):
    `AIOKafkaConsumer(..., **kafka_client_options(settings))`. Empty for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {
        "security_protocol": protocol,
        "ssl_context": _ssl_context(settings),
    }
    if protocol.startswith("SASL_"):
        assert settings.kafka_sasl_password is not None, "refused by the settings"
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": settings.kafka_sasl_password.get_secret_value(),
        }
    return options


def broker_security(settings: ServiceSettings) -> BaseSecurity | None:
    """The same for FastStream's KafkaBroker (its subscribers and publishers)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = _ssl_context(settings)
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    assert settings.kafka_sasl_username is not None, "refused by the settings"
    assert settings.kafka_sasl_password is not None, "refused by the settings"
    return _SASL[settings.kafka_sasl_mechanism](
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password.get_secret_value(),
        ssl_context=context,
        use_ssl=protocol == "SASL_SSL",
    )
