"""Settings of the fulfilment service (env prefix FULFILMENT_)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict
from supplychain_kit.settings import ServiceSettings


class DepartmentAutopilot(BaseModel):
    """One department's simulated worker; unset fields take the global values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="false: this department works by hand")
    accept_delay_s: float | None = Field(default=None, ge=0)
    start_delay_s: float | None = Field(default=None, ge=0)
    ship_delay_s: float | None = Field(default=None, ge=0)
    receipt_delay_s: float | None = Field(default=None, ge=0)
    reject_probability: float | None = Field(default=None, ge=0, le=1)


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
    autopilot_start_delay_s: float = Field(default=0.0, ge=0)
    autopilot_ship_delay_s: float = Field(default=2.0, ge=0)
    autopilot_receipt_delay_s: float = Field(default=1.0, ge=0)
    autopilot_reject_probability: float = Field(
        default=0.0, ge=0, le=1, description="chance that the autopilot rejects an order"
    )
    autopilot_departments: dict[str, DepartmentAutopilot] = Field(
        default_factory=dict,
        description=(
            'per-department overrides, JSON: {"FRAMES": {"accept_delay_s": 1, '
            '"reject_probability": 0.05}, "PAINTSHOP": {"enabled": false}}'
        ),
    )
    autopilot_poll_interval_ms: int = Field(
        default=200,
        ge=10,
        description="shortest pause between the autopilot's rounds (new work wakes it sooner)",
    )
    autopilot_max_sleep_s: float = Field(
        default=5.0,
        gt=0,
        description="longest the autopilot sleeps with nothing due (another replica's new "
        "work it sees by then; its own replica's wakes it at once)",
    )
    auto_receipt_max_sleep_s: float = Field(
        default=60.0,
        gt=0,
        description=(
            "longest the auto-receipt scan sleeps before looking again (it wakes sooner at the "
            "next due time or a shipment of this replica; another replica's it sees by then)"
        ),
    )
    auto_receipt_batch: int = Field(
        default=100, ge=1, description="deliveries the auto-receipt confirms per transaction"
    )
