"""Settings of the nurture service."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from shared.settings import BaseServiceSettings, env


class NurtureSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "nurture"
    default_port: ClassVar[int] = 8003

    port: int = Field(0, ge=0, le=65535, validation_alias=env("NURTURE_PORT", "port"))
    smtp_host: str = Field("127.0.0.1", validation_alias=env("NURTURE_SMTP_HOST", "smtp_host"))
    smtp_port: int = Field(
        2525, ge=1, le=65535, validation_alias=env("NURTURE_SMTP_PORT", "smtp_port")
    )
    smtp_username: str | None = Field(
        None, validation_alias=env("NURTURE_SMTP_USERNAME", "smtp_username")
    )
    smtp_password: SecretStr | None = Field(
        None, validation_alias=env("NURTURE_SMTP_PASSWORD", "smtp_password")
    )
    smtp_starttls: bool = Field(
        False, validation_alias=env("NURTURE_SMTP_STARTTLS", "smtp_starttls")
    )
    smtp_connections: int = Field(
        8,
        ge=1,
        le=64,
        validation_alias=env("NURTURE_SMTP_CONNECTIONS", "smtp_connections"),
        description="SMTP connections one worker keeps open and sends over in parallel",
    )
    smtp_timeout_seconds: float = Field(
        10, gt=0, validation_alias=env("NURTURE_SMTP_TIMEOUT_SECONDS", "smtp_timeout_seconds")
    )
    public_url: str = Field(
        "http://127.0.0.1:8003",
        validation_alias=env("NURTURE_PUBLIC_URL", "public_url"),
        description="where recipients reach nurture (unsubscribe links)",
    )
    tracking_url: str = Field(
        "http://127.0.0.1:8001",
        validation_alias=env("NURTURE_TRACKING_URL", "tracking_url"),
        description="ingest's public URL (open pixel and click links)",
    )
    scheduler_every_seconds: float = Field(
        1.0,
        gt=0,
        validation_alias=env("NURTURE_SCHEDULER_EVERY_SECONDS", "scheduler_every_seconds"),
    )
