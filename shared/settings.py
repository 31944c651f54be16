"""Settings base shared by every service (pydantic-settings, environment variables)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me"
SECRET_HINT = "set LEADFLOW_SECRET_KEY to a long random value (e.g. `openssl rand -hex 32`)"


def is_loopback(host: str) -> bool:
    """Only this machine can reach a listener on this address (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # another name: it may resolve to anything


def secret_problem(secret: str, *, hosts: Iterable[str], environment: str) -> str | None:
    """Why this signing secret must not be used here, or None.

    The development secret is in the source code: whoever can reach a service that signs with
    it can forge click, unsubscribe and erasure tokens and console sessions. So it is taken
    only when every listener is on loopback, and never in production."""
    if secret != DEV_SECRET:
        return None
    if environment == "production":
        return f"LEADFLOW_SECRET_KEY must be set in production: {SECRET_HINT}"
    exposed = sorted({h for h in hosts if not is_loopback(h)})
    if exposed:
        return (
            "LEADFLOW_SECRET_KEY must be set: the development secret is public, and it is only "
            f"accepted when every listener is on loopback, but this one listens on "
            f"{', '.join(exposed)}; {SECRET_HINT}"
        )
    return None


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
    # Addresses whose X-Forwarded-Proto and X-Forwarded-For are believed (uvicorn's
    # forwarded_allow_ips; "*" for any): a request they mark https is answered with HSTS.
    trusted_proxies: str = Field(
        "127.0.0.1,::1",
        validation_alias=env("LEADFLOW_TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS", "trusted_proxies"),
    )
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
        problem = secret_problem(
            self.secret_key.get_secret_value(), hosts=[self.host], environment=self.environment
        )
        if problem:
            raise ValueError(problem)
        return self

    @property
    def db_schema(self) -> str:
        """Each service owns one PostgreSQL schema, named after it."""
        return self.service_name

    @property
    def consumer_group(self) -> str:
        return f"{self.topic_prefix}.{self.service_name}"
