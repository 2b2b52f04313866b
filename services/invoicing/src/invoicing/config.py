"""Settings of the invoicing service (env prefix INVOICING_)."""

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict
from supplychain_kit.settings import ServiceSettings


class InvoicingSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="INVOICING_", extra="ignore", populate_by_name=True
    )

    service_name: str = Field(default="invoicing", validation_alias="OTEL_SERVICE_NAME")
    http_port: int = Field(default=8003, ge=1, le=65535, validation_alias="HTTP_PORT")
    # A dispute open longer than this many business days (Mon-Fri, UTC) is escalated to
    # finance. Fractions count (tests use tiny ones).
    dispute_escalation_business_days: float = Field(
        default=5,
        gt=0,
        le=365,
        validation_alias=AliasChoices(
            "INVOICING_DISPUTE_ESCALATION_BUSINESS_DAYS", "DISPUTE_ESCALATION_BUSINESS_DAYS"
        ),
    )
    # No event carries the company file's group `currency`: invoicing is told it.
    group_currency: str = Field(
        default="EUR",
        pattern=r"^[A-Z]{3}$",
        validation_alias=AliasChoices("GROUP_CURRENCY", "INVOICING_GROUP_CURRENCY"),
        description="the company's group currency (the company file's top-level `currency`): "
        "the currency of the ledger's group view",
    )
    consumer_not_known_wait_seconds: float | None = Field(
        default=120,
        gt=0,
        validation_alias=AliasChoices(
            "INVOICING_REFERENCE_WAIT_SECONDS", "CONSUMER_NOT_KNOWN_WAIT_SECONDS"
        ),
        description="how long a record naming a department not known yet is retried before "
        "it is dead-lettered with the reason (the partition then moves on)",
    )
