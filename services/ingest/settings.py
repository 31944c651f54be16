"""Settings of the ingest service."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import BaseServiceSettings, env


class IngestSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "ingest"
    default_port: ClassVar[int] = 8001

    port: int = Field(0, ge=0, le=65535, validation_alias=env("INGEST_PORT", "port"))
    max_event_bytes: int = Field(
        32 * 1024, gt=0, validation_alias=env("INGEST_MAX_EVENT_BYTES", "max_event_bytes")
    )
    max_request_bytes: int = Field(
        500 * 1024, gt=0, validation_alias=env("INGEST_MAX_REQUEST_BYTES", "max_request_bytes")
    )
    max_batch_events: int = Field(
        2500, gt=0, validation_alias=env("INGEST_MAX_BATCH_EVENTS", "max_batch_events")
    )
    ack_timeout_seconds: float = Field(
        5.0, gt=0, validation_alias=env("INGEST_ACK_TIMEOUT_SECONDS", "ack_timeout_seconds")
    )
    max_in_flight_events: int = Field(
        50_000, gt=0, validation_alias=env("INGEST_MAX_IN_FLIGHT_EVENTS", "max_in_flight_events")
    )
    retry_after_seconds: int = Field(
        5, gt=0, validation_alias=env("INGEST_RETRY_AFTER_SECONDS", "retry_after_seconds")
    )
    rate_limit: str = Field(
        "20000/second",
        validation_alias=env("INGEST_RATE_LIMIT", "rate_limit"),
        description="events per workspace, in the `limits` notation (e.g. 1000/second)",
    )
