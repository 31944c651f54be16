"""Settings of the console (the web UI over the service APIs)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AnyHttpUrl, Field

from shared.settings import BaseServiceSettings, env


class ConsoleSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "console"
    default_port: ClassVar[int] = 8005

    port: int = Field(0, ge=0, le=65535, validation_alias=env("CONSOLE_PORT", "port"))
    ingest_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8001"),
        validation_alias=env("CONSOLE_INGEST_URL", "ingest_url"),
    )
    scoring_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8002"),
        validation_alias=env("CONSOLE_SCORING_URL", "scoring_url"),
    )
    nurture_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8003"),
        validation_alias=env("CONSOLE_NURTURE_URL", "nurture_url"),
    )
    reporting_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8004"),
        validation_alias=env("CONSOLE_REPORTING_URL", "reporting_url"),
    )
    api_timeout_seconds: float = Field(
        10.0, gt=0, validation_alias=env("CONSOLE_API_TIMEOUT_SECONDS", "api_timeout_seconds")
    )
    session_hours: float = Field(
        12.0, gt=0, validation_alias=env("CONSOLE_SESSION_HOURS", "session_hours")
    )

    def base_url(self, service: str) -> str:
        url: AnyHttpUrl = getattr(self, f"{service}_url")
        return str(url).rstrip("/")
