"""Settings of the reporting service."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import BaseServiceSettings, env


class ReportingSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "reporting"
    default_port: ClassVar[int] = 8004

    port: int = Field(0, ge=0, le=65535, validation_alias=env("REPORTING_PORT", "port"))
