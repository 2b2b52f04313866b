"""Settings every service shares; a service subclasses it with its own prefix and fields."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["local", "test", "staging", "production"]
ENVIRONMENT_VARIABLE = "SUPPLYCHAIN_ENVIRONMENT"
HOW_TO_SET_THE_ENVIRONMENT = (
    f"{ENVIRONMENT_VARIABLE} is not set: a service has no default environment. Set "
    f"{ENVIRONMENT_VARIABLE}=local|test|staging|production (local: a developer's machine, "
    "as `make run` sets it; test: the test suite; the container image sets production)"
)
KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class ServiceSettings(BaseSettings):
    """Environment variables common to every service (no prefix: one value for the stack).

    Service-specific fields live in subclasses with an env prefix such as ``FULFILMENT_``.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = Field(default="service", validation_alias="OTEL_SERVICE_NAME")
    # No default (fail closed): `_require_environment` refuses a start without one.
    environment: Environment = Field(validation_alias=ENVIRONMENT_VARIABLE)
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        default="PLAINTEXT",
        validation_alias="KAFKA_SECURITY_PROTOCOL",
        description="SASL_SSL (or SASL_PLAINTEXT inside a private network) where Kafka runs "
        "for real; PLAINTEXT for the embedded Tansu on 127.0.0.1",
    )
    kafka_sasl_mechanism: KafkaSaslMechanism = Field(
        default="SCRAM-SHA-512", validation_alias="KAFKA_SASL_MECHANISM"
    )
    kafka_sasl_username: str | None = Field(
        default=None,
        validation_alias="KAFKA_SASL_USERNAME",
        description="this service's Kafka principal (its ACLs: the topics it writes and reads)",
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, validation_alias="KAFKA_SASL_PASSWORD", description="from a secret"
    )
    kafka_ssl_cafile: str | None = Field(
        default=None,
        validation_alias="KAFKA_SSL_CAFILE",
        description="CA bundle (PEM) the broker's certificate is checked against; unset: the "
        "system's",
    )
    kafka_ssl_certfile: str | None = Field(
        default=None,
        validation_alias="KAFKA_SSL_CERTFILE",
        description="client certificate (PEM) for mutual TLS",
    )
    kafka_ssl_keyfile: str | None = Field(
        default=None, validation_alias="KAFKA_SSL_KEYFILE", description="its private key (PEM)"
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=100,
        ge=1,
        le=5000,
        validation_alias="KAFKA_FETCH_MAX_WAIT_MS",
        description="keep low on Tansu: it holds a fetch for the whole wait even with data",
    )
    kafka_fetch_idle_wait_ms: int = Field(
        default=500,
        ge=0,
        le=5000,
        validation_alias="KAFKA_FETCH_IDLE_WAIT_MS",
        description="a consumer's fetch wait once no record came for KAFKA_FETCH_IDLE_AFTER_MS "
        "(fewer empty fetches when idle; the first record after a quiet spell waits at most "
        "this); at most KAFKA_FETCH_MAX_WAIT_MS turns it off",
    )
    kafka_fetch_idle_after_ms: int = Field(
        default=2000, ge=100, le=600_000, validation_alias="KAFKA_FETCH_IDLE_AFTER_MS"
    )
    kafka_consumer_per_topic: bool = Field(
        default=False,
        validation_alias="KAFKA_CONSUMER_PER_TOPIC",
        description="one consumer (group member) per subscribed topic instead of one for all "
        "(each topic's fetches then go idle on their own; the embedded broker delivers no "
        "sooner for it)",
    )
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        ge=1000,
        validation_alias="KAFKA_SESSION_TIMEOUT_MS",
        description="Tansu holds a first JoinGroup for half of it: keep it low there",
    )
    kafka_heartbeat_interval_ms: int = Field(
        default=3000, ge=100, validation_alias="KAFKA_HEARTBEAT_INTERVAL_MS"
    )
    kafka_enable_idempotence: bool = Field(
        default=False,
        validation_alias="KAFKA_ENABLE_IDEMPOTENCE",
        description="Tansu's memory engine has no InitProducerId; turn on for Apache Kafka",
    )
    consumer_group: str | None = Field(
        default=None,
        validation_alias="CONSUMER_GROUP",
        description="Kafka consumer group; defaults to the service name",
    )
    kafka_lag_interval_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        validation_alias="KAFKA_LAG_INTERVAL_S",
        description="how often the consumer lag is measured from the broker",
    )
    kafka_lag_groups: str = Field(
        default="",
        validation_alias="KAFKA_LAG_GROUPS",
        description="other consumer groups (comma-separated) whose lag this process measures",
    )
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/supplychain",
        validation_alias="DATABASE_URL",
    )
    database_pool_size: int = Field(
        default=10,
        ge=1,
        le=100,
        validation_alias="DATABASE_POOL_SIZE",
        description="connections of the consumer, the outbox relay and the background jobs "
        "(SLA clocks...): no HTTP request ever takes one of them",
    )
    database_request_pool_size: int = Field(
        default=10,
        ge=1,
        le=100,
        validation_alias="DATABASE_REQUEST_POOL_SIZE",
        description="connections of the HTTP requests",
    )
    database_export_pool_size: int = Field(
        default=2,
        ge=1,
        le=20,
        validation_alias="DATABASE_EXPORT_POOL_SIZE",
        description="connections of exports and heavy reads (the OCEL export)",
    )
    database_acquire_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        validation_alias="DATABASE_ACQUIRE_TIMEOUT_S",
        description="longest wait of a request for a pooled connection: then 503 with "
        "Retry-After, never a hang",
    )
    database_statement_timeout_ms: int = Field(
        default=30_000,
        ge=100,
        validation_alias="DATABASE_STATEMENT_TIMEOUT_MS",
        description="PostgreSQL statement_timeout of the request and export connections",
    )
    database_export_statement_timeout_ms: int = Field(
        default=120_000,
        ge=100,
        validation_alias="DATABASE_EXPORT_STATEMENT_TIMEOUT_MS",
        description="statement_timeout of an export's connection (each cursor fetch)",
    )
    database_idle_in_transaction_timeout_ms: int = Field(
        default=30_000,
        ge=100,
        validation_alias="DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS",
        description="PostgreSQL idle_in_transaction_session_timeout of every connection: a "
        "transaction left waiting is ended by the server, so the locks of a frozen replica "
        "(the outbox relay's leadership, claimed SLA clocks) pass to the others. Keep it "
        "above the relay's send timeout (15 s)",
    )
    database_transaction_timeout_ms: int = Field(
        default=60_000,
        ge=0,
        validation_alias="DATABASE_TRANSACTION_TIMEOUT_MS",
        description="PostgreSQL transaction_timeout of the service's own and its request "
        "connections (PostgreSQL 17 and later; 0 = none): a replica frozen in the middle of a "
        "query keeps its transaction 'active', which the idle limit does not end, so this "
        "one passes its locks on. Keep it above the relay's send timeout (15 s) and the "
        "longest consumer batch; migrations and exports are not limited by it",
    )
    http_host: str = Field(
        default="127.0.0.1",
        validation_alias="HTTP_HOST",
        description="the address to listen on: 127.0.0.1 on a machine; 0.0.0.0 only in a "
        "container (the image, compose and Kubernetes set it)",
    )
    http_port: int = Field(default=8000, ge=1, le=65535, validation_alias="HTTP_PORT")
    http_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=1024**3,
        validation_alias="HTTP_MAX_BODY_BYTES",
        description="a larger request body is refused (413) before it is read",
    )
    http_download_stall_timeout_s: float = Field(
        default=60.0,
        gt=0,
        validation_alias="HTTP_DOWNLOAD_STALL_TIMEOUT_S",
        description="a download (an export) whose client reads nothing for this long is "
        "abandoned and its temporary file removed",
    )
    rate_limit_per_second: float = Field(
        default=50.0,
        ge=0,
        validation_alias="RATE_LIMIT_PER_SECOND",
        description="requests per second per API key (a token bucket; callers without a key "
        "share one per client address); 0 turns the limit off. Health and metrics are exempt",
    )
    rate_limit_burst: int = Field(
        default=200,
        ge=1,
        validation_alias="RATE_LIMIT_BURST",
        description="requests a key may make at once above its rate (the bucket's size)",
    )
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    log_format: Literal["json", "text"] | None = Field(
        default=None,
        validation_alias="LOG_FORMAT",
        description="json lines, or text for people; unset: text on a terminal, else json",
    )
    http_access_log: bool = Field(
        default=False,
        validation_alias="HTTP_ACCESS_LOG",
        description="a log line per HTTP request (always on with LOG_LEVEL=DEBUG)",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    # The standard OpenTelemetry variables, read here so a wrong value is refused at start
    # (the SDK would only warn and sample everything).
    otel_traces_sampler: Literal[
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    ] = Field(default="parentbased_always_on", validation_alias="OTEL_TRACES_SAMPLER")
    otel_traces_sampler_arg: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        validation_alias="OTEL_TRACES_SAMPLER_ARG",
        description="the sampled ratio of new traces with the traceidratio samplers",
    )
    outbox_batch_size: int = Field(default=500, ge=1, le=5000, validation_alias="OUTBOX_BATCH_SIZE")
    outbox_poll_interval_ms: int = Field(
        default=5000,
        ge=5,
        le=60_000,
        validation_alias="OUTBOX_POLL_INTERVAL_MS",
        description="the relay's safety sweep: it is woken by its transactions' NOTIFY, and "
        "looks anyway this often (another replica's rows, a notification lost while away)",
    )
    outbox_retention_s: float = Field(
        default=3600.0,
        ge=0,
        le=30 * 86400,
        validation_alias="OUTBOX_RETENTION_S",
        description="published outbox rows are deleted this long after publishing (0: at "
        "the next housekeeping, once a minute); the soak reads them back, so keep it above "
        "a soak's run",
    )
    inbox_retention_hours: float = Field(
        default=31 * 24,
        ge=1,
        le=366 * 24,
        validation_alias="INBOX_RETENTION_HOURS",
        description="inbox rows (the events a consumer applied) are deleted this long after "
        "they were received; a redelivery older than that would be applied again, so keep it "
        "above the topics' retention and the dead-letter topics' (redrive) retention",
    )
    outbox_park_after_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        validation_alias="OUTBOX_PARK_AFTER_ATTEMPTS",
        description="attempts for a row the broker refuses for good (too large, unknown "
        "topic) before it is parked; the key's later rows wait behind it",
    )
    outbox_park_after_s: float = Field(
        default=60.0,
        ge=0,
        validation_alias="OUTBOX_PARK_AFTER_S",
        description="a refused row is parked only once its first refusal is this old too",
    )
    outbox_retry_backoff_ms: int = Field(
        default=1000,
        ge=1,
        le=60_000,
        validation_alias="OUTBOX_RETRY_BACKOFF_MS",
        description="first wait before retrying a refused row, doubled per attempt (max 60 s)",
    )
    outbox_max_message_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        validation_alias="OUTBOX_MAX_MESSAGE_BYTES",
        description="the relay producer's max_request_size: keep it at most the broker's "
        "message.max.bytes, so an oversized row is refused before it is sent",
    )
    consumer_max_attempts: int = Field(
        default=3,
        ge=1,
        le=20,
        validation_alias="CONSUMER_MAX_ATTEMPTS",
        description="attempts for a failing message before it goes to the dead-letter topic",
    )
    consumer_batch_size: int = Field(
        default=100,
        ge=1,
        le=1000,
        validation_alias="CONSUMER_BATCH_SIZE",
        description="records applied in one transaction (a poison record is isolated after)",
    )
    consumer_retry_backoff_ms: int = Field(
        default=100, ge=1, le=60_000, validation_alias="CONSUMER_RETRY_BACKOFF_MS"
    )
    consumer_not_known_wait_seconds: float | None = Field(
        default=None,
        gt=0,
        validation_alias="CONSUMER_NOT_KNOWN_WAIT_SECONDS",
        description="how long a record naming reference data not known yet is retried before "
        "it is dead-lettered (unset: until the data comes)",
    )
    consumer_parked_check_seconds: float | None = Field(
        default=30.0,
        gt=0,
        validation_alias="CONSUMER_PARKED_CHECK_SECONDS",
        description="how often a consumer applies parked records of event types it knows now "
        "(they are applied at start too)",
    )
    load_sample_company: bool = Field(
        default=True,
        validation_alias=AliasChoices("LOAD_SAMPLE_COMPANY"),
        description="load the shipped sample company into this service's reference tables",
    )

    department_api_keys: str | None = Field(
        default=None,
        validation_alias="DEPARTMENT_API_KEYS",
        description='JSON list of {"key_id", "department", "sha256"}; unset: development keys',
    )

    admin_api_keys: str | None = Field(
        default=None,
        validation_alias="ADMIN_API_KEYS",
        description='JSON list of {"key_id", "sha256"}; unset: the development key dev-admin-1',
    )
    finance_api_keys: str | None = Field(
        default=None,
        validation_alias="FINANCE_API_KEYS",
        description='JSON list of {"key_id", "sha256"}; unset: the development key dev-finance-1',
    )
    analyst_api_keys: str | None = Field(
        default=None,
        validation_alias="ANALYST_API_KEYS",
        description='JSON list of {"key_id", "sha256"}; unset: the development key dev-analyst-1',
    )
    operator_api_keys: str | None = Field(
        default=None,
        validation_alias="OPERATOR_API_KEYS",
        description='JSON list of {"key_id", "sha256"}; unset: the development key dev-operator-1',
    )
    company_file: str | None = Field(
        default=None,
        validation_alias="COMPANY_FILE",
        description="the company (JSON or YAML) the owners of reference data load; "
        "unset: the sample company",
    )

    def lag_groups(self) -> list[str]:
        return [group.strip() for group in self.kafka_lag_groups.split(",") if group.strip()]

    @property
    def development_keys_allowed(self) -> bool:
        """dev-<department>-1/-2 and dev-<role>-1 work in local and test only."""
        return self.environment in ("local", "test")

    @model_validator(mode="before")
    @classmethod
    def _require_environment(cls, values: Any) -> Any:
        if isinstance(values, dict) and not any(
            values.get(name) for name in ("environment", ENVIRONMENT_VARIABLE)
        ):
            raise ValueError(HOW_TO_SET_THE_ENVIRONMENT)
        return values

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> ServiceSettings:
        problems = self._kafka_security_problems() + self._outside_local_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _kafka_security_problems(self) -> list[str]:
        sasl = self.kafka_security_protocol.startswith("SASL_")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            return [
                f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (this service's principal)"
            ]
        mutual_tls = self.kafka_security_protocol == "SSL" and self.kafka_ssl_certfile is not None
        # production only: staging may be a test bed on an open broker (the deployments
        # configure a principal in every environment)
        if self.environment == "production" and not (sasl or mutual_tls):
            return [
                f"Kafka must be authenticated in {self.environment}: set "
                "KAFKA_SECURITY_PROTOCOL=SASL_SSL with KAFKA_SASL_USERNAME and "
                "KAFKA_SASL_PASSWORD (or SSL with KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE)"
            ]
        return []

    def _outside_local_problems(self) -> list[str]:
        problems = []
        if self.environment in ("staging", "production") and not self.department_api_keys:
            problems.append("DEPARTMENT_API_KEYS must be set outside local and test")
        if self.environment in ("staging", "production") and not self.admin_api_keys:
            problems.append("ADMIN_API_KEYS must be set outside local and test")
        if self.environment == "production" and "@" in self.database_url:
            credentials = self.database_url.split("@", 1)[0]
            if credentials.endswith("//postgres") or ":postgres" in credentials:
                problems.append("DATABASE_URL uses the default postgres credentials in production")
        return problems


def environment_variables(settings_cls: type[BaseSettings]) -> dict[str, str]:
    """Environment variable name → field name for every field of a settings class."""
    prefix = str(settings_cls.model_config.get("env_prefix", "")).upper()
    names: dict[str, str] = {}
    for field_name, field in settings_cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str):
            names[alias.upper()] = field_name
        elif isinstance(alias, AliasChoices):
            for choice in alias.choices:
                if isinstance(choice, str):
                    names[choice.upper()] = field_name
        else:
            names[f"{prefix}{field_name}".upper()] = field_name
    return names


S = TypeVar("S", bound=ServiceSettings)


def load_settings(settings_cls: type[S]) -> S:
    """A service's settings from its environment, or its refusal to start: exit status 1 and
    each problem on stderr, by variable, without the values (one may be a secret)."""
    try:
        return settings_cls()
    except ValidationError as refused:
        service = settings_cls.model_fields["service_name"].default
        problems = "\n".join(f"  - {_problem(error)}" for error in refused.errors())
        raise SystemExit(f"{service} refuses to start:\n{problems}") from None


def _problem(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"{where}: {message}" if where else message
