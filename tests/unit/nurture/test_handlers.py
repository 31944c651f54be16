"""The handlers' decisions (domain/leads.py) and the HANDLERS map, no servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.nurture.domain.leads import (
    RECENT_EVENTS,
    ExitFacts,
    engagement_kind,
    event_name,
    exit_facts,
    lead_update,
    recent_events,
    touchpoint_keys,
)
from services.nurture.handlers import (
    HANDLERS,
    on_email,
    on_enrollment,
    on_erased,
    on_lead_facts,
    on_merged,
    on_touchpoint,
)
from shared.events import EVENT_TYPES, Envelope
from shared.events.types import LeadFacts, Payload, Touchpoint

AT = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def data(event_type: str, **payload: Any) -> Payload:
    return Envelope(
        type=event_type, workspace_id="ws", lead_key="k", occurred_at=AT, payload=payload
    ).data


def lead_facts(event_type: str, **payload: Any) -> LeadFacts:
    found = data(event_type, **payload)
    assert isinstance(found, LeadFacts)
    return found


LEAD = {"lead_id": "ld_1", "traits": {"email": "Ada@Acme.example"}, "user_ids": ["u1"]}


def test_every_type_nurture_reacts_to_has_its_handler() -> None:
    assert HANDLERS["lead.scored"] is on_lead_facts
    assert HANDLERS["lead.lifecycle_changed"] is on_lead_facts
    assert HANDLERS["lead.stalled"] is on_lead_facts
    assert HANDLERS["lead.merged"] is on_merged
    assert HANDLERS["lead.erased"] is on_erased
    for kind in ("track", "identify", "page", "screen", "group", "alias"):
        assert HANDLERS[kind] is on_touchpoint
    for kind in ("email.sent", "email.opened", "email.clicked", "email.bounced"):
        assert HANDLERS[kind] is on_email
    assert HANDLERS["email.unsubscribed"] is on_email
    for kind in ("enrollment.started", "enrollment.exited", "enrollment.completed"):
        assert HANDLERS[kind] is on_enrollment
    assert set(HANDLERS) <= set(EVENT_TYPES)
    assert "workspace.changed" not in HANDLERS


def test_a_touchpoint_names_its_person_by_user_id_then_email() -> None:
    identify = data(
        "identify", message_id="m", user_id="u1", traits={"email": " Ada@Acme.example "}
    )
    assert isinstance(identify, Touchpoint)
    assert touchpoint_keys("identify", identify) == [
        ("user", "u1"),
        ("email", "ada@acme.example"),
    ]
    track = data(
        "track", message_id="m", event="Clicked", context={"traits": {"email": "b@x.example"}}
    )
    assert isinstance(track, Touchpoint)
    assert touchpoint_keys("track", track) == [("email", "b@x.example")]
    anonymous = data("page", message_id="m", anonymous_id="a1")
    assert isinstance(anonymous, Touchpoint)
    assert touchpoint_keys("page", anonymous) == []


def test_only_identify_traits_name_an_email() -> None:
    group = data("group", message_id="m", group_id="g", traits={"email": "team@x.example"})
    assert isinstance(group, Touchpoint)
    assert touchpoint_keys("group", group) == []


def test_a_lead_event_updates_nurtures_copy_and_its_keys() -> None:
    scored = lead_facts(
        "lead.scored", **LEAD, score=70, probability=0.7, model_version="m", fit=40, engagement=None
    )
    update = lead_update(scored)
    assert update.values == {
        "traits": {"email": "Ada@Acme.example"},
        "email": "Ada@Acme.example",
        "score": 70,
        "fit": 40,
    }
    assert update.keys == [("user", "u1"), ("email", "ada@acme.example")]
    moved = lead_facts(
        "lead.lifecycle_changed", **LEAD, from_stage="lead", to_stage="mql", reason="r"
    )
    assert lead_update(moved).values["stage"] == "mql"
    stalled = lead_facts("lead.stalled", lead_id="ld_1", stage="mql", reason="quiet")
    assert lead_update(stalled).values == {"traits": {}, "email": None}
    assert lead_update(stalled).keys == []


def test_event_names_a_track_event_by_its_name_others_by_type() -> None:
    assert event_name("track", data("track", message_id="m", event="Demo Booked")) == (
        "Demo Booked"
    )
    assert event_name("email.clicked", data("email.clicked", **_email(), url="u")) == (
        "email.clicked"
    )


def test_recent_events_keep_the_last_fifty() -> None:
    old = [["e", (AT - timedelta(minutes=i)).isoformat()] for i in range(RECENT_EVENTS)]
    recent = recent_events(old, "new", AT)
    assert len(recent) == RECENT_EVENTS
    assert recent[-1] == ["new", AT.isoformat()]
    assert recent[0] == old[1]


@pytest.mark.parametrize(
    ("kind", "counter"),
    [
        ("email.opened", "opened"),
        ("email.clicked", "clicked"),
        ("email.unsubscribed", "unsubscribed"),
        ("email.sent", None),
        ("email.bounced", None),
    ],
)
def test_which_email_events_count_on_their_send(kind: str, counter: str | None) -> None:
    assert engagement_kind(kind) == counter


def _email(**extra: Any) -> dict[str, Any]:
    return {"lead_id": "ld_1", "send_id": "snd_1", **extra}


def test_exit_facts_of_each_kind_of_event() -> None:
    moved = data("lead.lifecycle_changed", **LEAD, from_stage="mql", to_stage="sql", reason="r")
    assert exit_facts("lead.lifecycle_changed", moved) == ExitFacts(stage="sql")
    scored = data("lead.scored", **LEAD, score=9, probability=0.1, model_version="m")
    assert exit_facts("lead.scored", scored) is None
    booked = data("track", message_id="m", user_id="u1", event="Demo Booked")
    assert exit_facts("track", booked) == ExitFacts(event="Demo Booked")
    unsubscribed = data("email.unsubscribed", **_email())
    assert exit_facts("email.unsubscribed", unsubscribed) == ExitFacts(
        event="email.unsubscribed", unsubscribed=True
    )
    hard = data("email.bounced", **_email(kind="hard"))
    soft = data("email.bounced", **_email(kind="soft"))
    assert exit_facts("email.bounced", hard) == ExitFacts(event="email.bounced", hard_bounced=True)
    assert exit_facts("email.bounced", soft) == ExitFacts(event="email.bounced")
