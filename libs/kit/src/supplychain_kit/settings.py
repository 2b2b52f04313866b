"""Settings every service shares; a service subclasses it with its own prefix and fields."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Environment variables common to every service (no prefix: one value for the stack).

    Service-specific fields live in subclasses with an env prefix such as ``FULFILMENT_``.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = Field(default="service", validation_alias="OTEL_SERVICE_NAME")
    environment: Literal["local", "test", "staging", "production"] = Field(
        default="local", validation_alias="SUPPLYCHAIN_ENVIRONMENT"
    )
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=100,
        ge=1,
        le=5000,
        validation_alias="KAFKA_FETCH_MAX_WAIT_MS",
        description="keep low on Tansu: it holds a fetch for the whole wait even with data",
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
    database_pool_size: int = Field(default=10, ge=1, le=100, validation_alias="DATABASE_POOL_SIZE")
    http_host: str = Field(default="127.0.0.1", validation_alias="HTTP_HOST")
    http_port: int = Field(default=8000, ge=1, le=65535, validation_alias="HTTP_PORT")
    http_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=1024**3,
        validation_alias="HTTP_MAX_BODY_BYTES",
        description="a larger request body is refused (413) before it is read",
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
        default=200, ge=5, le=60_000, validation_alias="OUTBOX_POLL_INTERVAL_MS"
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

    @model_validator(mode="after")
    def _refuse_unsafe_outside_local(self) -> ServiceSettings:
        if self.environment in ("staging", "production") and not self.department_api_keys:
            raise ValueError("DEPARTMENT_API_KEYS must be set outside local and test")
        if self.environment in ("staging", "production") and not self.admin_api_keys:
            raise ValueError("ADMIN_API_KEYS must be set outside local and test")
        if self.environment == "production" and "@" in self.database_url:
            credentials = self.database_url.split("@", 1)[0]
            if credentials.endswith("//postgres") or ":postgres" in credentials:
                raise ValueError("DATABASE_URL uses the default postgres credentials in production")
        return self


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
