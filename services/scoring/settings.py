"""Settings of the scoring service."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import BaseServiceSettings, env


class ScoringSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "scoring"
    default_port: ClassVar[int] = 8002

    port: int = Field(0, ge=0, le=65535, validation_alias=env("SCORING_PORT", "port"))
