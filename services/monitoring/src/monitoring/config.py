"""Settings of the monitoring service (env prefix MONITORING_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from supplychain_kit.settings import ServiceSettings


class MonitoringSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="MONITORING_", extra="ignore", populate_by_name=True
    )

    service_name: str = Field(default="monitoring", validation_alias="OTEL_SERVICE_NAME")
    http_port: int = Field(default=8004, ge=1, le=65535, validation_alias="HTTP_PORT")
    sla_scan_interval_ms: int = Field(
        default=500, ge=10, description="how often SLA clocks are checked"
    )
