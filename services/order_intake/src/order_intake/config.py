"""Settings of the order-intake service (env prefix ORDER_INTAKE_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from supplychain_kit.settings import ServiceSettings


class OrderIntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="ORDER_INTAKE_", extra="ignore", populate_by_name=True
    )

    service_name: str = Field(default="order-intake", validation_alias="OTEL_SERVICE_NAME")
    http_port: int = Field(default=8001, ge=1, le=65535, validation_alias="HTTP_PORT")
    max_lines_per_order: int = Field(default=50, ge=1, le=1000)
    max_quantity_per_line: int = Field(default=10_000, ge=1)
