"""Topic names (prefixed) and their per-topic settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str = "leadflow"

    @property
    def touchpoints(self) -> str:
        return f"{self.prefix}.touchpoints"

    @property
    def lead_events(self) -> str:
        return f"{self.prefix}.lead-events"

    @property
    def email_events(self) -> str:
        return f"{self.prefix}.email-events"

    @property
    def workspaces(self) -> str:
        return f"{self.prefix}.workspaces"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}.deadletter"

    def all(self) -> list[str]:
        return [
            self.touchpoints,
            self.lead_events,
            self.email_events,
            self.workspaces,
            self.deadletter,
        ]

    def config(self, topic: str) -> dict[str, str]:
        """Topic-level Kafka configs; workspaces are a table, so the topic is compacted."""
        if topic == self.workspaces:
            return {"cleanup.policy": "compact"}
        return {}
