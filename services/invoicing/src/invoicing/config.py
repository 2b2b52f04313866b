"""Settings of the invoicing service (env prefix INVOICING_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from supplychain_kit.settings import ServiceSettings


class InvoicingSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="INVOICING_", extra="ignore", populate_by_name=True
    )

    service_name: str = Field(default="invoicing", validation_alias="OTEL_SERVICE_NAME")
    http_port: int = Field(default=8003, ge=1, le=65535, validation_alias="HTTP_PORT")
