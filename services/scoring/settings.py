"""Settings of the scoring service."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import BaseServiceSettings, env


class ScoringSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "scoring"
    default_port: ClassVar[int] = 8002

    port: int = Field(0, ge=0, le=65535, validation_alias=env("SCORING_PORT", "port"))
    # Larger than the default: the batch handler's cost is mostly per batch (a few queries),
    # and one poll's records are split among the partitions.
    consumer_batch_size: int = Field(
        3000, ge=1, validation_alias=env("KAFKA_CONSUMER_BATCH_SIZE", "consumer_batch_size")
    )
    model_poll_seconds: float = Field(
        2.0, gt=0, validation_alias=env("SCORING_MODEL_POLL_SECONDS", "model_poll_seconds")
    )
    maintenance_every_seconds: float = Field(
        60.0,
        gt=0,
        validation_alias=env("SCORING_MAINTENANCE_EVERY_SECONDS", "maintenance_every_seconds"),
    )
    rescore_after_hours: float = Field(
        1.0, gt=0, validation_alias=env("SCORING_RESCORE_AFTER_HOURS", "rescore_after_hours")
    )
    anonymous_retention_days: float = Field(
        30.0,
        gt=0,
        validation_alias=env("SCORING_ANONYMOUS_RETENTION_DAYS", "anonymous_retention_days"),
    )
    # Lead records kept in memory between batches (store/lead_cache.py): ~3 KB each.
    lead_cache_size: int = Field(
        20_000, ge=0, validation_alias=env("SCORING_LEAD_CACHE_SIZE", "lead_cache_size")
    )
