"""Sequences as the console shows them: headline figures, the status actions, and the
vocabulary the editor's pickers offer (stages and event types, from shared/events)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.events import BEHAVIOUR_TYPES, EVENT_TYPES, STAGES

# The status changes nurture takes (POST /v1/sequences/{id}/{action}), in the past tense.
ACTIONS = {"activate": "activated", "pause": "paused", "resume": "resumed", "archive": "archived"}
# What a person can do that starts a sequence: touchpoints and email events.
TRIGGER_EVENT_TYPES = [t for t in EVENT_TYPES if t in BEHAVIOUR_TYPES]
EDITOR_STAGES = list(STAGES)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def headline(results: Mapping[str, Any]) -> dict[str, Any]:
    """A sequence's figures over all steps and variants: sent, open and click rates, goals."""
    steps = results.get("steps", [])
    sent = sum(int(s["sent"]) for s in steps)
    return {
        **results.get("enrollments", {}),
        "sent": sent,
        "open_rate": _rate(sum(int(s["opened"]) for s in steps), sent),
        "click_rate": _rate(sum(int(s["clicked"]) for s in steps), sent),
    }


def first_template(templates: list[dict[str, Any]]) -> str:
    """The template a new email step starts with: the first there is, if any."""
    return str(templates[0]["id"]) if templates else ""
