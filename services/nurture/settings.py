"""Settings of the nurture service."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import BaseServiceSettings, env


class NurtureSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "nurture"
    default_port: ClassVar[int] = 8003

    port: int = Field(0, ge=0, le=65535, validation_alias=env("NURTURE_PORT", "port"))
