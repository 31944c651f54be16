"""Rules of what marketers configure: sequence status transitions, template references
of a definition, suppression reasons, pagination cursors (pure: no I/O)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.nurture.domain.sequences import EmailStep, SequenceDefinition

Status = Literal["draft", "active", "paused", "archived"]
Action = Literal["activate", "pause", "resume", "archive"]
SuppressionReason = Literal["unsubscribed", "bounced", "complaint", "manual"]


class CatalogError(Exception):
    """A request that cannot be carried out in the current state (HTTP 409)."""


class BadCursor(ValueError):
    """A pagination cursor that this module did not hand out."""


@dataclass(frozen=True)
class TemplateRef:
    """A template id a definition references, and where (a pydantic-style location)."""

    loc: tuple[str | int, ...]
    template_id: str


def definition_json(definition: SequenceDefinition) -> dict[str, Any]:
    """How a definition is stored (and shown): JSON, with the aliases ("else")."""
    return definition.model_dump(mode="json", by_alias=True)


def template_refs(definition: SequenceDefinition) -> list[TemplateRef]:
    """Every template reference of a definition, with its location in the definition."""
    found: list[TemplateRef] = []
    for index, step in enumerate(definition.steps):
        if not isinstance(step, EmailStep):
            continue
        if step.variants:
            for v_index, variant in enumerate(step.variants):
                loc = ("steps", index, "email", "variants", v_index, "template_id")
                found.append(TemplateRef(loc, variant.template_id))
        elif step.template_id:
            found.append(TemplateRef(("steps", index, "email", "template_id"), step.template_id))
    return found


TRANSITIONS: dict[Action, tuple[frozenset[str], Status]] = {
    "activate": (frozenset({"draft"}), "active"),
    "pause": (frozenset({"active"}), "paused"),
    "resume": (frozenset({"paused"}), "active"),
    "archive": (frozenset({"draft", "active", "paused", "archived"}), "archived"),
}


def transition_problem(status: str, action: Action) -> str | None:
    """Why `action` is not allowed for a sequence in `status` (None: it is)."""
    allowed, _ = TRANSITIONS[action]
    if status in allowed:
        return None
    if status == "archived":
        return "the sequence is archived: archiving is final"
    reasons: dict[tuple[str, Action], str] = {
        ("active", "activate"): "the sequence is already active",
        ("paused", "activate"): "the sequence is paused: resume it instead",
        ("draft", "pause"): "only an active sequence can be paused; this one is a draft",
        ("paused", "pause"): "the sequence is already paused",
        ("draft", "resume"): "only a paused sequence can be resumed; activate a draft instead",
        ("active", "resume"): "the sequence is active, not paused",
    }
    return reasons.get((status, action), f"cannot {action} a sequence that is {status}")


def encode_cursor(created_at: datetime, email: str) -> str:
    """The cursor of a suppression list page that ends with this entry."""
    raw = f"{created_at.isoformat()}\x1f{email}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, email = raw.split("\x1f", 1)
        parsed = datetime.fromisoformat(at)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor(f"cursor {cursor!r} is not one this API handed out") from None
    if parsed.tzinfo is None:
        raise BadCursor(f"cursor {cursor!r} is not one this API handed out")
    return parsed, email
