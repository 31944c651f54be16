from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.nurture.domain.engine import (
    Completed,
    Facts,
    Progress,
    SendEmail,
    WaitUntil,
    advance,
    choose_variant,
)
from services.nurture.domain.lifecycle import exit_reason, may_enroll, triggered_by
from services.nurture.domain.sequences import BranchStep, EmailStep, SequenceDefinition
from services.nurture.domain.timing import SendWindow
from shared.events.types import LeadLifecycleChanged

NY = ZoneInfo("America/New_York")
WINDOW = SendWindow()  # 09:00-17:00 Monday to Friday

EXAMPLE: dict[str, Any] = {
    "trigger": {"kind": "stage_entered", "stage": "mql"},
    "steps": [
        {"kind": "email", "id": "welcome", "template_id": "tpl-welcome"},
        {"kind": "wait", "id": "two-days", "duration": "P2D"},
        {
            "kind": "email",
            "id": "case-study",
            "variants": [
                {"id": "a", "template_id": "tpl-case-a", "weight": 1},
                {"id": "b", "template_id": "tpl-case-b", "weight": 1},
            ],
        },
        {"kind": "wait", "id": "three-business-days", "business_days": 3},
        {
            "kind": "branch",
            "id": "clicked",
            "condition": {"event": "Email Clicked", "within_days": 7},
            "then": "demo-invite",
            "else": "big-company",
        },
        {
            "kind": "branch",
            "id": "big-company",
            "condition": {"trait": "company.employees", "op": "gte", "value": 500},
            "then": "morning",
            "else": "done-soon",
        },
        {"kind": "window", "id": "morning", "start": "09:00", "end": "11:00", "days": [2, 3, 4]},
        {"kind": "email", "id": "demo-invite", "template_id": "tpl-demo"},
        {"kind": "wait", "id": "done-soon", "duration": "90m"},
    ],
    "exit": {
        "stages": ["sql", "customer"],
        "events": ["Demo Booked"],
        "on_unsubscribe": True,
        "on_hard_bounce": True,
    },
    "reentry": {"policy": "after_days", "days": 30},
    "send_window": {"start": "09:00", "end": "17:00", "days": [1, 2, 3, 4, 5]},
    "business_days_only": True,
}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def definition(**changes: Any) -> SequenceDefinition:
    return SequenceDefinition.model_validate({**EXAMPLE, **changes})


def errors_of(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str, str]]:
    with pytest.raises(ValidationError) as caught:
        SequenceDefinition.model_validate(data)
    return [(tuple(e["loc"]), e["type"], e["msg"]) for e in caught.value.errors()]


def with_steps(*steps: dict[str, Any]) -> dict[str, Any]:
    return {**EXAMPLE, "steps": list(steps)}


EMAIL = {"kind": "email", "id": "e1", "template_id": "t1"}


# ------------------------------------------------------------------ definitions
def test_the_example_validates_round_trips_and_lists_its_templates() -> None:
    seq = definition()
    assert seq.template_ids() == ["tpl-welcome", "tpl-case-a", "tpl-case-b", "tpl-demo"]
    dumped = seq.model_dump(mode="json")
    assert dumped["steps"][4]["else"] == "big-company"
    assert dumped["steps"][1]["duration"] == "P2D"
    assert SequenceDefinition.model_validate(dumped) == seq
    assert SequenceDefinition.model_validate_json(seq.model_dump_json()) == seq


def test_defaults_are_as_documented() -> None:
    seq = SequenceDefinition.model_validate(
        {"trigger": {"kind": "score_crossed", "score": 70}, "steps": [EMAIL]}
    )
    assert seq.exit.stages == ["sql", "customer"]
    assert seq.exit.events == ["Demo Booked"]
    assert seq.exit.on_unsubscribe
    assert seq.exit.on_hard_bounce
    assert seq.reentry.policy == "never"
    assert seq.send_window is None
    assert seq.business_days_only is True


def test_unknown_branch_target_is_named_at_the_field() -> None:
    branch = {
        "kind": "branch",
        "id": "b",
        "condition": {"score": {"op": "gte", "value": 60}},
        "then": "e2",
        "else": "nowhere",
    }
    found = errors_of(with_steps(branch, {**EMAIL, "id": "e2"}))
    assert found == [
        (("steps", 0, "branch", "else"), "unknown_step", "no step has the id 'nowhere'")
    ]


def test_backward_branches_are_refused_as_loops() -> None:
    branch = {
        "kind": "branch",
        "id": "b",
        "condition": {"trait": "plan", "op": "exists"},
        "then": "e1",
        "else": "b",
    }
    found = errors_of(with_steps(EMAIL, branch, {**EMAIL, "id": "e2"}))
    assert [(loc, kind) for loc, kind, _ in found] == [
        (("steps", 1, "branch", "then"), "branch_backwards"),
        (("steps", 1, "branch", "else"), "branch_backwards"),
    ]
    assert "no loops" in found[0][2]
    assert "later step" in found[0][2]


def test_duplicate_step_ids() -> None:
    found = errors_of(with_steps(EMAIL, {"kind": "wait", "id": "e1", "duration": "1d"}))
    assert found == [
        (("steps", 1, "wait", "id"), "duplicate_id", "step id 'e1' is already used by step 1")
    ]


def test_variants_and_template_id_together() -> None:
    step = {
        **EMAIL,
        "variants": [{"id": "a", "template_id": "x"}, {"id": "b", "template_id": "y"}],
    }
    found = errors_of(with_steps(step))
    assert found[0][:2] == (("steps", 0, "email", "template_id"), "template_or_variants")


def test_email_step_errors() -> None:
    no_template = errors_of(with_steps({"kind": "email", "id": "e"}))
    assert no_template[0][:2] == (("steps", 0, "email", "template_id"), "missing")
    variants = [{"id": "a", "template_id": "x"}, {"id": "a", "template_id": "y", "weight": 0}]
    found = errors_of(with_steps({"kind": "email", "id": "e", "variants": variants}))
    assert (("steps", 0, "email", "variants", 1, "weight"), "greater_than") in [
        f[:2] for f in found
    ]
    one = errors_of(with_steps({"kind": "email", "id": "e", "variants": variants[:1]}))
    assert one[0][:2] == (("steps", 0, "email", "variants"), "too_short")
    dup = [{"id": "a", "template_id": "x"}, {"id": "a", "template_id": "y"}]
    found = errors_of(with_steps({"kind": "email", "id": "e", "variants": dup}))
    assert found[0][:2] == (("steps", 0, "email", "variants", 1, "id"), "duplicate_id")


def test_after_days_needs_days() -> None:
    found = errors_of({**EXAMPLE, "reentry": {"policy": "after_days"}})
    assert found == [(("reentry", "days"), "missing", "policy 'after_days' needs days")]
    found = errors_of({**EXAMPLE, "reentry": {"policy": "never", "days": 3}})
    assert found[0][:2] == (("reentry", "days"), "days_unused")


def test_other_field_errors_carry_their_paths() -> None:
    # Paths into steps name the step's kind, as pydantic does for tagged unions.
    assert errors_of({**EXAMPLE, "colour": "red"})[0][:2] == (("colour",), "extra_forbidden")
    wait = {"kind": "wait", "id": "w", "duration": "soon"}
    found = errors_of(with_steps(wait))
    assert found[0][0] == ("steps", 0, "wait", "duration")
    assert "not a duration" in found[0][2]
    both = {"kind": "wait", "id": "w", "duration": "P1D", "business_days": 1}
    assert errors_of(with_steps(both))[0][1] == "duration_or_business_days"
    window = {"kind": "window", "id": "w", "start": "11:00", "end": "09:00"}
    found = errors_of(with_steps(window))
    assert found[0][0] == ("steps", 0, "window", "end")
    assert "later than start" in found[0][2]
    bad_days = {"kind": "window", "id": "w", "start": "09:00", "end": "10:00", "days": [0]}
    assert errors_of(with_steps(bad_days))[0][0] == ("steps", 0, "window", "days")
    assert errors_of(with_steps({"kind": "sms", "id": "x"}))[0][1] == "union_tag_invalid"
    assert errors_of(with_steps({**EMAIL, "id": "Not A Slug"}))[0][0] == (
        "steps",
        0,
        "email",
        "id",
    )
    branch = {"kind": "branch", "id": "b", "condition": {"colour": 1}, "then": "e1", "else": "e1"}
    found = errors_of(with_steps(branch, EMAIL))
    assert found[0][:2] == (("steps", 0, "branch", "condition"), "condition_kind")
    gte_text = {**branch, "condition": {"trait": "size", "op": "gte", "value": "big"}}
    assert errors_of(with_steps(gte_text, EMAIL))[0][0][-1] == "value"
    assert errors_of({**EXAMPLE, "steps": []})[0][:2] == (("steps",), "too_short")
    track_without_name = {"kind": "event", "event_type": "track"}
    found = errors_of({**EXAMPLE, "trigger": track_without_name})
    assert found[0][:2] == (("trigger", "event", "event"), "missing")
    assert errors_of({**EXAMPLE, "trigger": {"kind": "stage_entered", "stage": "vip"}})


# ------------------------------------------------------------------ engine
FACTS = Facts(traits={"company": {"employees": 40}}, score=50, stage="mql", timezone=None)


def run(
    seq: SequenceDefinition, progress: Progress, now: datetime, facts: Facts = FACTS
) -> SendEmail | WaitUntil | Completed:
    return advance(seq, progress, facts, now, enrollment_id="enr-1", zone=NY, window=WINDOW)


def test_advance_wait_email_branch_then_completed() -> None:
    seq = definition()
    enrolled = utc(2024, 5, 13, 18)  # Monday 14:00 in New York

    first = run(seq, Progress(), enrolled)
    assert isinstance(first, SendEmail)
    assert (first.step_id, first.variant_id, first.template_id) == ("welcome", None, "tpl-welcome")
    assert first.not_before == enrolled  # inside the window
    sent = first.progress_after(enrolled)
    assert sent.step_index == 1
    assert sent.last_step_at == enrolled

    wait = run(seq, sent, enrolled + timedelta(seconds=5))
    assert isinstance(wait, WaitUntil)
    assert wait.at == utc(2024, 5, 15, 18)  # two days after the previous step finished
    assert wait.next_progress.waiting_until == wait.at

    # Waking up later than due still counts from the previous step; the variant is fixed.
    second = run(seq, wait.next_progress, utc(2024, 5, 15, 18, 3))
    assert isinstance(second, SendEmail)
    assert second.step_id == "case-study"
    assert second.variant_id in {"a", "b"}
    assert second.template_id == f"tpl-case-{second.variant_id}"
    assert second.next_progress.variant_by_step == {"case-study": second.variant_id}
    sent = second.progress_after(utc(2024, 5, 15, 18, 3))

    wait = run(seq, sent, utc(2024, 5, 15, 18, 4))
    assert isinstance(wait, WaitUntil)
    assert wait.at == utc(2024, 5, 20, 18, 3)  # Wednesday + 3 business days = Monday

    # Branch "clicked" yes: straight to the demo invite.
    clicked = FACTS.model_copy(update={"events": [("email.clicked", utc(2024, 5, 17))]})
    demo = run(seq, wait.next_progress, utc(2024, 5, 20, 18, 3), clicked)
    assert isinstance(demo, SendEmail)
    assert demo.step_id == "demo-invite"
    assert demo.next_progress.variant_by_step == {"case-study": second.variant_id}
    after_demo = demo.progress_after(utc(2024, 5, 20, 18, 4))
    last = run(seq, after_demo, utc(2024, 5, 20, 18, 4))
    assert isinstance(last, WaitUntil)
    assert last.at == utc(2024, 5, 20, 19, 34)
    assert isinstance(run(seq, last.next_progress, last.at), Completed)

    # Branch "clicked" no, small company: skip to the 90 minute wait, then completed.
    old_click = FACTS.model_copy(update={"events": [("Email Clicked", utc(2024, 5, 1))]})
    done_soon = run(seq, wait.next_progress, utc(2024, 5, 20, 18, 3), old_click)
    assert isinstance(done_soon, WaitUntil)
    assert done_soon.next_progress.step_index == 8
    assert done_soon.at == utc(2024, 5, 20, 19, 33)
    assert isinstance(run(seq, done_soon.next_progress, utc(2024, 5, 21)), Completed)

    # Branch "clicked" no, big company: wait for the Tue-Thu 09:00-11:00 window, then demo.
    big = FACTS.model_copy(update={"traits": {"company": {"employees": "1,200"}}})
    morning = run(seq, wait.next_progress, utc(2024, 5, 20, 18, 3), big)
    assert isinstance(morning, WaitUntil)
    assert morning.at == utc(2024, 5, 21, 13)  # Tuesday 09:00 EDT
    invite = run(seq, morning.next_progress, morning.at, big)
    assert isinstance(invite, SendEmail)
    assert invite.step_id == "demo-invite"
    assert invite.not_before == morning.at


def test_email_waits_for_the_send_window_and_business_days() -> None:
    seq = definition()
    saturday = utc(2024, 5, 18, 16)
    send = run(seq, Progress(), saturday)
    assert isinstance(send, SendEmail)
    assert send.not_before == utc(2024, 5, 20, 13)  # Monday 09:00 in New York
    assert send.next_progress.last_step_at == send.not_before

    weekends_too = definition(business_days_only=False)
    send = run(weekends_too, Progress(), saturday)
    assert isinstance(send, SendEmail)
    assert send.not_before == saturday
    night = run(weekends_too, Progress(), utc(2024, 5, 18, 23))  # Saturday 19:00
    assert isinstance(night, SendEmail)
    assert night.not_before == utc(2024, 5, 19, 13)

    step_override = {**EMAIL, "business_days_only": False}
    seq = SequenceDefinition.model_validate(with_steps(step_override))
    send = run(seq, Progress(), saturday)
    assert isinstance(send, SendEmail)
    assert send.not_before == saturday

    no_override = definition(send_window=None)  # the workspace window passed to advance
    late = advance(
        no_override,
        Progress(),
        FACTS,
        utc(2024, 5, 14, 1),
        enrollment_id="x",
        zone=NY,
        window=SendWindow(start=time(20), end=time(22)),
    )
    assert isinstance(late, SendEmail)
    assert late.not_before == utc(2024, 5, 14, 1)


def test_advance_completes_past_the_last_step() -> None:
    seq = definition()
    assert run(seq, Progress(step_index=len(seq.steps)), utc(2024, 5, 13)) == Completed()


def test_score_and_trait_branches() -> None:
    def branch(condition: dict[str, Any]) -> SequenceDefinition:
        step = {"kind": "branch", "id": "b", "condition": condition, "then": "yes", "else": "no"}
        yes = {**EMAIL, "id": "yes", "template_id": "t-yes"}
        no = {**EMAIL, "id": "no", "template_id": "t-no"}
        return SequenceDefinition.model_validate(with_steps(step, yes, no))

    def taken(condition: dict[str, Any], **facts: Any) -> str:
        decision = run(branch(condition), Progress(), utc(2024, 5, 13, 15), Facts(**facts))
        assert isinstance(decision, SendEmail)
        return decision.step_id

    score60 = {"score": {"op": "gte", "value": 60}}
    assert taken(score60, score=60) == "yes"
    assert taken(score60, score=59) == "no"
    assert taken(score60) == "no"
    assert taken({"trait": "title", "op": "contains", "value": "vp"}, traits={"title": "VP Sales"})
    assert taken({"trait": "plan", "op": "eq", "value": "Pro"}, traits={"plan": "pro"}) == "yes"
    assert taken({"trait": "plan", "op": "ne", "value": "pro"}, traits={"plan": "pro"}) == "no"
    assert taken({"trait": "plan", "op": "ne", "value": "pro"}, traits={}) == "yes"
    assert taken({"trait": "plan", "op": "exists"}, traits={"plan": ""}) == "no"
    assert taken({"trait": "tags", "op": "contains", "value": "b2b"}, traits={"tags": ["B2B"]})
    assert taken({"trait": "seats", "op": "lte", "value": 10}, traits={"seats": 10}) == "yes"
    assert taken({"trait": "seats", "op": "lte", "value": 10}, traits={"seats": "many"}) == "no"
    assert taken({"trait": "a.b", "op": "eq", "value": 1}, traits={"a.b": 1}) == "yes"


def test_ab_split_is_deterministic_and_weighted() -> None:
    seq = SequenceDefinition.model_validate(
        with_steps(
            {
                "kind": "email",
                "id": "offer",
                "variants": [
                    {"id": "a", "template_id": "ta", "weight": 3},
                    {"id": "b", "template_id": "tb", "weight": 1},
                ],
            }
        )
    )
    step = seq.steps[0]
    assert isinstance(step, EmailStep)
    assert step.variants
    counts = Counter(
        choose_variant(step.variants, f"enrollment-{n}", "offer").id for n in range(10_000)
    )
    assert 7_200 < counts["a"] < 7_800
    assert counts["a"] + counts["b"] == 10_000
    for n in range(50):
        first = choose_variant(step.variants, f"e{n}", "offer")
        assert choose_variant(list(step.variants), f"e{n}", "offer") == first
    # Another step of the same enrollment draws independently.
    other = [choose_variant(step.variants, f"enrollment-{n}", "other").id for n in range(2000)]
    same = [choose_variant(step.variants, f"enrollment-{n}", "offer").id for n in range(2000)]
    assert other != same

    now = utc(2024, 5, 13, 15)
    decisions = [
        advance(seq, Progress(), FACTS, now, enrollment_id="lead-7", zone=NY, window=WINDOW)
        for _ in range(3)
    ]
    assert len({d.model_dump_json() for d in decisions}) == 1
    # A variant already recorded in the progress is kept.
    kept = run(seq, Progress(variant_by_step={"offer": "b"}), now)
    assert isinstance(kept, SendEmail)
    assert (kept.variant_id, kept.template_id) == ("b", "tb")


# ------------------------------------------------------------------ exits, re-entry, triggers
def test_exit_reasons() -> None:
    seq = definition()
    assert exit_reason(seq) is None
    assert exit_reason(seq, unsubscribed=True) == "unsubscribed"
    assert exit_reason(seq, hard_bounced=True) == "hard_bounced"
    assert exit_reason(seq, stage="sql") == "stage:sql"
    assert exit_reason(seq, stage="opportunity") == "stage:opportunity"  # past sql
    assert exit_reason(seq, stage="mql") is None
    assert exit_reason(seq, stage="recycled") is None
    assert exit_reason(seq, event="Demo Booked") == "event:Demo Booked"
    assert exit_reason(seq, event="demo_booked") == "event:demo_booked"
    assert exit_reason(seq, event="Demo Requested") is None
    lenient = definition(exit={"stages": ["disqualified"], "events": [], "on_unsubscribe": False})
    assert exit_reason(lenient, unsubscribed=True) is None
    assert exit_reason(lenient, hard_bounced=True) == "hard_bounced"
    assert exit_reason(lenient, stage="customer") is None
    assert exit_reason(lenient, stage="disqualified") == "stage:disqualified"


def test_reentry_policies() -> None:
    now = utc(2024, 6, 1)
    ended = [(utc(2024, 5, 1), utc(2024, 5, 10), False)]
    completed = [(utc(2024, 5, 1), utc(2024, 5, 20), True)]
    active = [(utc(2024, 5, 1), None, False)]
    never = definition(reentry={"policy": "never"})
    after_exit = definition(reentry={"policy": "after_exit"})
    after_days = definition(reentry={"policy": "after_days", "days": 14})
    for seq in (never, after_exit, after_days):
        assert may_enroll(seq, [], now) is True
        assert may_enroll(seq, active, now) == "already enrolled in this sequence"
    assert "never" in str(may_enroll(never, ended, now))
    assert may_enroll(after_exit, ended, now) is True
    assert may_enroll(after_exit, completed, now) is True
    assert may_enroll(after_days, ended, now) is True  # 22 days since it ended
    refused = may_enroll(after_days, completed, now)  # 12 days since it completed
    assert isinstance(refused, str)
    assert "14 days" in refused
    assert may_enroll(after_days, completed, utc(2024, 6, 3)) is True
    assert may_enroll(after_days, [*ended, *active], now) == "already enrolled in this sequence"


def test_stage_and_score_triggers() -> None:
    mql = definition()
    entered = {"lead_id": "l1", "from_stage": "lead", "to_stage": "mql", "reason": "score"}
    assert triggered_by(mql, "lead.lifecycle_changed", entered)
    model = LeadLifecycleChanged.model_validate(entered)
    assert triggered_by(mql, "lead.lifecycle_changed", model)
    assert not triggered_by(mql, "lead.lifecycle_changed", {**entered, "to_stage": "sql"})
    assert not triggered_by(mql, "lead.lifecycle_changed", {**entered, "from_stage": "mql"})
    assert not triggered_by(mql, "lead.scored", {"score": 90, "previous_score": 10})

    crossing = definition(trigger={"kind": "score_crossed", "score": 70})
    assert triggered_by(crossing, "lead.scored", {"score": 70, "previous_score": 69})
    assert triggered_by(crossing, "lead.scored", {"score": 80, "previous_score": None})
    assert not triggered_by(crossing, "lead.scored", {"score": 80, "previous_score": 75})
    assert not triggered_by(crossing, "lead.scored", {"score": 60, "previous_score": 80})
    assert not triggered_by(crossing, "lead.lifecycle_changed", entered)


def test_event_triggers_with_property_filters() -> None:
    demo = definition(
        trigger={
            "kind": "event",
            "event_type": "track",
            "event": "Demo Requested",
            "properties": {"plan": "pro", "company.size": 50},
        }
    )
    props = {"plan": "Pro", "company": {"size": "50"}, "extra": 1}
    assert triggered_by(demo, "track", {"event": "Demo Requested", "properties": props})
    assert triggered_by(demo, "track", {"event": "demo requested", "properties": props})
    assert not triggered_by(demo, "track", {"event": "Demo Requested", "properties": {}})
    assert not triggered_by(
        demo, "track", {"event": "Demo Requested", "properties": {**props, "plan": "free"}}
    )
    assert not triggered_by(demo, "track", {"event": "Signed Up", "properties": props})
    assert not triggered_by(demo, "page", {"name": "Demo Requested", "properties": props})

    pricing = definition(trigger={"kind": "event", "event_type": "page", "event": "Pricing"})
    assert triggered_by(pricing, "page", {"name": "Pricing"})
    assert not triggered_by(pricing, "page", {"name": "Home"})
    any_click = definition(trigger={"kind": "event", "event_type": "email.clicked"})
    assert triggered_by(any_click, "email.clicked", {"url": "https://x.example"})
    enterprise = definition(
        trigger={"kind": "event", "event_type": "identify", "properties": {"tier": "enterprise"}}
    )
    assert triggered_by(enterprise, "identify", {"traits": {"tier": "Enterprise"}})
    assert not triggered_by(enterprise, "identify", {"traits": {}})
    with pytest.raises(ValidationError, match="only track, page and screen"):
        definition(trigger={"kind": "event", "event_type": "identify", "event": "x"})


def test_branch_step_accepts_else_by_name_too() -> None:
    step = BranchStep.model_validate(
        {
            "kind": "branch",
            "id": "b",
            "condition": {"event": "Webinar Attended"},
            "then": "x",
            "else_": "y",
        }
    )
    assert step.model_dump()["else"] == "y"
