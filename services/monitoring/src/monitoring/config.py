"""Settings of the monitoring service (env prefix MONITORING_)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, TypeAdapter, field_validator
from pydantic_settings import SettingsConfigDict
from supplychain_contracts.company import SlaPolicy
from supplychain_kit.settings import ServiceSettings

from monitoring.sla.watermarks import DEFAULT_MAX_LATENESS, DEFAULT_RELAY_GRACE, VerdictRule

POLICY_LIST: TypeAdapter[list[SlaPolicy]] = TypeAdapter(list[SlaPolicy])


class MonitoringSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="MONITORING_", extra="ignore", populate_by_name=True
    )

    service_name: str = Field(default="monitoring", validation_alias="OTEL_SERVICE_NAME")
    http_port: int = Field(default=8004, ge=1, le=65535, validation_alias="HTTP_PORT")
    kafka_lag_groups: str = Field(
        default="order-intake,fulfilment,invoicing,monitoring",
        validation_alias="KAFKA_LAG_GROUPS",
        description="the consumer groups whose lag monitoring measures (the console shows them)",
    )
    tracing_ui_url: str | None = Field(
        default=None,
        validation_alias="TRACING_UI_URL",
        description="Jaeger's UI (e.g. http://localhost:16686): the console links each chain's "
        "trace to it",
    )
    sla_scan_interval_ms: int = Field(
        default=5000,
        ge=10,
        description="the longest wait between two scans of the SLA clocks (a scan also runs "
        "whenever the verdict watermarks move)",
    )
    sla_verdict_relay_grace_seconds: float = Field(
        default=DEFAULT_RELAY_GRACE.total_seconds(),
        ge=0,
        le=3600,
        description="how long after a warning time or deadline the broker must have been read "
        "before the verdict is raised: time for a producer's outbox relay to publish an end "
        "event that happened in time",
    )
    sla_verdict_max_lateness_seconds: float = Field(
        default=DEFAULT_MAX_LATENESS.total_seconds(),
        gt=0,
        le=7 * 24 * 3600,
        description="how long past its time a verdict waits at most when monitoring cannot know "
        "whether the stage ended (broker unreachable, a partition stuck): then it is raised",
    )
    sla_watermark_interval_ms: int = Field(
        default=1000,
        ge=50,
        le=60_000,
        description="how often the broker's end offsets and monitoring's committed offsets are "
        "sampled to know how far it has read the topics that end stages",
    )
    sla_policies_json: str | None = Field(
        default=None,
        description="JSON list of SLA policies replacing the company's (tests, overrides)",
    )

    @field_validator("sla_policies_json")
    @classmethod
    def _policies_parse(cls, value: str | None) -> str | None:
        if value:
            POLICY_LIST.validate_json(value)
        return value

    def verdict_rule(self) -> VerdictRule:
        """When an SLA warning or breach is due (`sla.watermarks`)."""
        return VerdictRule(
            relay_grace=timedelta(seconds=self.sla_verdict_relay_grace_seconds),
            max_lateness=timedelta(seconds=self.sla_verdict_max_lateness_seconds),
        )

    def sla_policies_override(self) -> list[SlaPolicy] | None:
        """The policies replacing the company's (COMPANY_FILE or the sample), if any."""
        if self.sla_policies_json:
            return POLICY_LIST.validate_json(self.sla_policies_json)
        return None
