"""Settings of the reporting service."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import BaseServiceSettings, env

DEFAULT_WINDOWS = {"subscriber": 30, "lead": 30, "mql": 14, "sql": 30, "opportunity": 60}


class ReportingSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "reporting"
    default_port: ClassVar[int] = 8004

    port: int = Field(0, ge=0, le=65535, validation_alias=env("REPORTING_PORT", "port"))
    # Larger than the default: applying a poll costs a few statements whatever its size.
    consumer_batch_size: int = Field(
        3000, ge=1, validation_alias=env("KAFKA_CONSUMER_BATCH_SIZE", "consumer_batch_size")
    )

    # Days a lead that reached a stage has to reach the next one before it counts as lost
    # (until then it is "in progress"), e.g. REPORTING_CONVERSION_WINDOW_DAYS='{"mql": 21}'.
    conversion_window_days: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_WINDOWS),
        validation_alias=env("REPORTING_CONVERSION_WINDOW_DAYS", "conversion_window_days"),
    )

    def windows(self) -> dict[str, int]:
        return {**DEFAULT_WINDOWS, **self.conversion_window_days}
