"""Settings of the fulfilment service (env prefix FULFILMENT_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from supplychain_kit.settings import ServiceSettings


class FulfilmentSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="FULFILMENT_", extra="ignore", populate_by_name=True
    )

    service_name: str = Field(default="fulfilment", validation_alias="OTEL_SERVICE_NAME")
    http_port: int = Field(default=8002, ge=1, le=65535, validation_alias="HTTP_PORT")
    autopilot: bool = Field(
        default=False, description="a simulated worker per department drives the commands"
    )
    autopilot_accept_delay_s: float = Field(default=1.0, ge=0)
    autopilot_ship_delay_s: float = Field(default=2.0, ge=0)
    autopilot_receipt_delay_s: float = Field(default=1.0, ge=0)
    autopilot_poll_interval_ms: int = Field(default=200, ge=10)
