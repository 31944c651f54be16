"""Settings of the ingest service."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import BaseServiceSettings, env


class IngestSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "ingest"
    default_port: ClassVar[int] = 8001

    port: int = Field(0, ge=0, le=65535, validation_alias=env("INGEST_PORT", "port"))
