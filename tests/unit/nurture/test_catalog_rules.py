"""Rules of what marketers configure (domain/catalog.py), and the event ids, no servers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.nurture.domain.catalog import (
    BadCursor,
    TemplateRef,
    decode_cursor,
    encode_cursor,
    template_refs,
    transition_problem,
)
from services.nurture.domain.events import enrollment_event, enrollment_id, event_id
from services.nurture.domain.sequences import SequenceDefinition


@pytest.mark.parametrize(
    ("status", "action", "allowed"),
    [
        ("draft", "activate", True),
        ("active", "pause", True),
        ("paused", "resume", True),
        ("active", "archive", True),
        ("archived", "archive", True),
        ("active", "activate", False),
        ("paused", "activate", False),
        ("draft", "pause", False),
        ("draft", "resume", False),
        ("archived", "activate", False),
    ],
)
def test_status_transitions(status: str, action: str, allowed: bool) -> None:
    problem = transition_problem(status, action)  # type: ignore[arg-type]
    assert (problem is None) is allowed


def test_an_archived_sequence_says_archiving_is_final() -> None:
    assert transition_problem("archived", "resume") == (
        "the sequence is archived: archiving is final"
    )


def test_template_references_with_their_location() -> None:
    definition = SequenceDefinition.model_validate(
        {
            "trigger": {"kind": "stage_entered", "stage": "mql"},
            "steps": [
                {"kind": "email", "id": "one", "template_id": "tpl_a"},
                {"kind": "wait", "id": "w", "duration": "P1D"},
                {
                    "kind": "email",
                    "id": "two",
                    "variants": [
                        {"id": "a", "template_id": "tpl_b"},
                        {"id": "b", "template_id": "tpl_c"},
                    ],
                },
            ],
        }
    )
    assert template_refs(definition) == [
        TemplateRef(("steps", 0, "email", "template_id"), "tpl_a"),
        TemplateRef(("steps", 2, "email", "variants", 0, "template_id"), "tpl_b"),
        TemplateRef(("steps", 2, "email", "variants", 1, "template_id"), "tpl_c"),
    ]


def test_cursors_round_trip_and_foreign_ones_are_refused() -> None:
    at = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, "a@b.example")) == (at, "a@b.example")
    for bad in ("nope", encode_cursor(at, "x")[:-3] + "!!!", "bm9fc2VwYXJhdG9y"):
        with pytest.raises(BadCursor):
            decode_cursor(bad)


def test_event_ids_are_derived_from_what_they_are_about() -> None:
    assert event_id("email.sent", "s1") == event_id("email.sent", "s1")
    assert event_id("email.sent", "s1") != event_id("email.bounced", "s1")
    assert enrollment_id("seq", "trigger-1") == enrollment_id("seq", "trigger-1")
    assert enrollment_id("seq", "trigger-1") != enrollment_id("seq", "trigger-2")
    at = datetime(2026, 5, 4, tzinfo=UTC)
    started = enrollment_event("enrollment.started", "ws", "ld", at, enrollment_id="e1")
    assert (
        started.id == enrollment_event("enrollment.started", "ws", "ld", at, enrollment_id="e1").id
    )
    assert started.payload == {"lead_id": "ld", "enrollment_id": "e1"}
