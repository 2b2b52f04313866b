"""Settings of the monitoring service (env prefix MONITORING_)."""

from __future__ import annotations

from pydantic import Field, TypeAdapter, field_validator
from pydantic_settings import SettingsConfigDict
from supplychain_contracts.company import SlaPolicy
from supplychain_kit.settings import ServiceSettings

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
        default=500, ge=10, description="how often SLA clocks are checked"
    )
    sla_grace_ms: int = Field(
        default=1000,
        ge=0,
        description="how long past a deadline the clock waits for an end event still in flight",
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

    def sla_policies_override(self) -> list[SlaPolicy] | None:
        """The policies replacing the company's (COMPANY_FILE or the sample), if any."""
        if self.sla_policies_json:
            return POLICY_LIST.validate_json(self.sla_policies_json)
        return None
