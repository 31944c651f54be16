"""Settings base shared by every service (pydantic-settings, environment variables)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me"


def env(*names: str) -> AliasChoices:
    """Accept a field by any of these environment names (and by its own name in code)."""
    return AliasChoices(*names)


class BaseServiceSettings(BaseSettings):
    """What every service needs; each service subclasses it and adds its own fields.

    Every default works on a laptop with `make run`'s local PostgreSQL and Kafka.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    service_name: ClassVar[str] = "leadflow"
    default_port: ClassVar[int] = 8000

    environment: Literal["development", "test", "production"] = Field(
        "development", validation_alias=env("LEADFLOW_ENV", "environment")
    )
    database_url: str = Field(
        "postgresql+asyncpg://leadflow@127.0.0.1:55432/leadflow",
        validation_alias=env("DATABASE_URL", "database_url"),
    )
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:59092",
        validation_alias=env("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"),
    )
    topic_prefix: str = Field(
        "leadflow", validation_alias=env("LEADFLOW_TOPIC_PREFIX", "topic_prefix")
    )
    topic_partitions: int = Field(
        6, ge=1, validation_alias=env("KAFKA_TOPIC_PARTITIONS", "topic_partitions")
    )
    topic_replication_factor: int = Field(
        1, ge=1, validation_alias=env("KAFKA_REPLICATION_FACTOR", "topic_replication_factor")
    )
    consumer_batch_size: int = Field(
        500, ge=1, validation_alias=env("KAFKA_CONSUMER_BATCH_SIZE", "consumer_batch_size")
    )
    outbox_poll_seconds: float = Field(
        1.0, gt=0, validation_alias=env("OUTBOX_POLL_SECONDS", "outbox_poll_seconds")
    )
    dedupe_window_hours: float = Field(
        24.0, gt=0, validation_alias=env("DEDUPE_WINDOW_HOURS", "dedupe_window_hours")
    )
    log_level: str = Field("INFO", validation_alias=env("LOG_LEVEL", "log_level"))
    log_json: bool = Field(True, validation_alias=env("LOG_JSON", "log_json"))
    host: str = Field("127.0.0.1", validation_alias=env("LEADFLOW_HOST", "host"))
    port: int = Field(0, ge=0, le=65535)
    secret_key: SecretStr = Field(
        SecretStr(DEV_SECRET), validation_alias=env("LEADFLOW_SECRET_KEY", "secret_key")
    )
    max_body_bytes: int = Field(
        1024 * 1024,
        gt=0,
        validation_alias=env("LEADFLOW_MAX_BODY_BYTES", "max_body_bytes"),
        description="largest request body a service reads (413 above it; shared/body_limit.py);"
        " ingest's tracking routes keep their own, INGEST_MAX_REQUEST_BYTES",
    )

    @model_validator(mode="after")
    def _defaults_and_safety(self) -> BaseServiceSettings:
        if self.port == 0:
            object.__setattr__(self, "port", self.default_port)
        if self.environment == "production" and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ValueError("LEADFLOW_SECRET_KEY must be set outside development")
        return self

    @property
    def db_schema(self) -> str:
        """Each service owns one PostgreSQL schema, named after it."""
        return self.service_name

    @property
    def consumer_group(self) -> str:
        return f"{self.topic_prefix}.{self.service_name}"
