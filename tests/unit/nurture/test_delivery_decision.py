"""The delivery decision (domain/delivery.py): each of its eight rules, no servers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.nurture.domain.config import NurtureConfig
from services.nurture.domain.delivery import (
    Batch,
    Defer,
    DueSend,
    Lead,
    Send,
    Skip,
    TemplateSource,
    after_transient,
    decide,
    decide_batch,
)
from services.nurture.domain.emails import SendRenderer
from services.nurture.domain.message import Outgoing, compose
from services.nurture.domain.templating import RenderError
from services.nurture.domain.timing import CapRule, SendWindow

MONDAY_10 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)  # inside the default 09-17 UTC window
WS = "ws_1"

SEND = DueSend(
    id="snd_1",
    workspace_id=WS,
    lead_id="ld_1",
    sequence_id="seq_1",
    version=1,
    step_id="welcome",
    variant_id=None,
    template_id="tpl_1",
    to_email=None,
    message_id="<snd_1@leadflow>",
    deadline=MONDAY_10 + timedelta(hours=24),
    attempts=0,
)
TEMPLATE = TemplateSource(subject="Hi {{ lead.first_name }}", html="", text="Hello")


def fake_render(
    send: DueSend, lead: Lead | None, template: TemplateSource, to: str, config: NurtureConfig
) -> tuple[str, Outgoing]:
    message = compose(
        message_id=send.id,
        from_address=config.from_address,
        from_name=config.from_name,
        to=to,
        subject=template.subject,
        text=template.text,
        html=template.html,
        unsubscribe_url="https://n.example/u/T",
        unsubscribe_token="T",
        date=MONDAY_10,
    )
    return template.subject, message


def batch(
    *,
    config: NurtureConfig | None = None,
    lead: Lead | None = None,
    suppressed: dict[str, str] | None = None,
    history: list[datetime] | None = None,
    rate: list[datetime] | None = None,
    template: TemplateSource | None = TEMPLATE,
) -> Batch:
    found = Batch(configs={WS: config or NurtureConfig()})
    found.leads[(WS, "ld_1")] = lead or Lead(email="ada@acme.example")
    found.suppressed = {(WS, email): reason for email, reason in (suppressed or {}).items()}
    if history is not None:
        found.history[(WS, "ld_1")] = history
    if rate is not None:
        found.rate[WS] = rate
    if template is not None:
        found.templates["tpl_1"] = template
    return found


def decided(b: Batch, *, send: DueSend = SEND, now: datetime = MONDAY_10) -> Any:
    return decide(send, b, now, fake_render)


def test_a_due_send_with_nothing_against_it_is_sent() -> None:
    decision = decided(batch())
    assert isinstance(decision, Send)
    assert decision.to == "ada@acme.example"
    assert decision.message.recipient == "ada@acme.example"


# 1. deadline
def test_past_its_deadline_a_send_expires() -> None:
    late = SEND.deadline + timedelta(seconds=1)
    assert decided(batch(), now=late) == Skip("expired", "deadline passed")


# 2. address
def test_no_address_anywhere_fails() -> None:
    assert decided(batch(lead=Lead(email=None))) == Skip("failed", "no email address")


def test_the_address_comes_from_the_lead_then_its_traits_then_the_send() -> None:
    from_traits = decided(batch(lead=Lead(email=" ", traits={"email": "t@acme.example"})))
    assert from_traits.to == "t@acme.example"
    from_send = decided(batch(lead=Lead()), send=replace(SEND, to_email="s@acme.example"))
    assert from_send.to == "s@acme.example"


# 3. suppression
@pytest.mark.parametrize("reason", ["unsubscribed", "bounced", "complaint", "manual"])
def test_a_suppressed_address_is_not_mailed(reason: str) -> None:
    b = batch(lead=Lead(email="Ada@Acme.example"), suppressed={"ada@acme.example": reason})
    assert decided(b) == Skip("suppressed", f"suppressed: {reason}")


def test_a_lead_whose_traits_say_unsubscribed_is_not_mailed() -> None:
    b = batch(lead=Lead(email="ada@acme.example", traits={"unsubscribed": True}))
    assert decided(b) == Skip("suppressed", "suppressed: unsubscribed (lead traits)")


# 4. opt-in
def test_opt_in_required_and_missing_suppresses() -> None:
    config = NurtureConfig(require_opt_in=True)
    assert decided(batch(config=config)) == Skip(
        "suppressed", "suppressed: no opt-in (the workspace requires email_opt_in)"
    )
    opted_in = Lead(email="ada@acme.example", traits={"email_opt_in": True})
    assert isinstance(decided(batch(config=config, lead=opted_in)), Send)


# 5. send window
def test_outside_the_window_a_send_waits_for_it_to_open() -> None:
    evening = MONDAY_10.replace(hour=18)
    decision = decided(batch(), now=evening)
    assert decision == Defer(MONDAY_10.replace(day=5, hour=9), "waiting for send window")


def test_the_lead_zone_decides_the_window() -> None:
    # 10:00 UTC is 19:00 in Tokyo: outside; it opens at 09:00 Tokyo (00:00 UTC) Tuesday.
    lead = Lead(email="ada@acme.example", traits={"timezone": "Asia/Tokyo"})
    decision = decided(batch(lead=lead))
    assert decision == Defer(datetime(2026, 5, 5, 0, 0, tzinfo=UTC), "waiting for send window")


def test_no_window_before_the_deadline_expires() -> None:
    friday_evening = datetime(2026, 5, 8, 18, 0, tzinfo=UTC)
    send = replace(SEND, deadline=friday_evening + timedelta(hours=24))
    assert decided(batch(), send=send, now=friday_evening) == Skip(
        "expired", "no send window before deadline"
    )


# 6. caps
def test_over_the_frequency_cap_a_send_is_pushed_to_when_it_is_allowed() -> None:
    config = NurtureConfig(caps=[CapRule(max=1, per=timedelta(hours=2))])
    earlier = MONDAY_10 - timedelta(hours=1)
    decision = decided(batch(config=config, history=[earlier]))
    when = earlier + timedelta(hours=2)
    assert decision == Defer(when, f"frequency cap: pushed to {when.isoformat()}")


def test_over_the_cap_until_past_the_deadline_is_capped() -> None:
    send = replace(SEND, deadline=MONDAY_10 + timedelta(hours=12))
    decision = decided(batch(history=[MONDAY_10 - timedelta(hours=1)]), send=send)  # 1 a day
    allowed = MONDAY_10 + timedelta(hours=23)
    assert decision == Skip(
        "capped", f"frequency cap: next allowed {allowed.isoformat()}, after deadline"
    )


# 7. rate
def test_over_the_workspace_rate_a_send_waits_for_a_slot() -> None:
    config = NurtureConfig(rate_per_minute=2, caps=[])
    recent = [MONDAY_10 - timedelta(seconds=30), MONDAY_10 - timedelta(seconds=10)]
    decision = decided(batch(config=config, rate=recent))
    assert decision == Defer(MONDAY_10 + timedelta(seconds=30), "rate limit")


def test_over_the_rate_with_the_deadline_before_a_slot_expires() -> None:
    config = NurtureConfig(rate_per_minute=1, caps=[])
    send = replace(SEND, deadline=MONDAY_10 + timedelta(seconds=5))
    decision = decided(batch(config=config, rate=[MONDAY_10]), send=send)
    assert decision == Skip("expired", "rate limit")


# 8. rendering
def test_a_missing_template_fails() -> None:
    assert decided(batch(template=None)) == Skip("failed", "no template tpl_1")


def test_a_template_that_does_not_render_fails_with_the_reason() -> None:
    def broken(*_: Any) -> tuple[str, Outgoing]:
        raise RenderError("html", "ZeroDivisionError: division by zero", 3)

    decision = decide(SEND, batch(), MONDAY_10, broken)
    assert decision == Skip(
        "failed", "cannot render: html line 3: ZeroDivisionError: division by zero"
    )


def test_the_real_renderer_renders_the_lead_and_tracks_links() -> None:
    renderer = SendRenderer(
        secret="s",
        public_url="https://n.example",
        tracking_url="https://t.example/",
        now=MONDAY_10,
        workspace_names={WS: "Acme"},
    )
    template = TemplateSource(
        subject="Hi {{ lead.first_name }} from {{ workspace }}",
        html='<a href="https://acme.example/">x</a>',
        text="",
    )
    lead = Lead(email="ada@acme.example", traits={"first_name": "Ada"})
    decision = decide(SEND, batch(lead=lead, template=template), MONDAY_10, renderer)
    assert isinstance(decision, Send)
    assert decision.subject == "Hi Ada from Acme"
    assert b"https://t.example/t/c/" in decision.message.data
    assert b"https://t.example/t/o/" in decision.message.data


def test_rules_apply_in_order_deadline_first() -> None:
    late = SEND.deadline + timedelta(hours=1)
    everything_wrong = batch(lead=Lead(email=None), template=None)
    assert decided(everything_wrong, now=late) == Skip("expired", "deadline passed")


def test_a_batch_counts_its_own_claims_for_caps_and_rate() -> None:
    config = NurtureConfig(rate_per_minute=1, caps=[])
    b = batch(config=config)
    second = replace(SEND, id="snd_2", lead_id="ld_1")
    first, then = decide_batch([SEND, second], b, MONDAY_10, fake_render)
    assert isinstance(first, Send)
    assert then == Defer(MONDAY_10 + timedelta(minutes=1), "rate limit")


def test_a_transient_refusal_is_retried_after_the_backoff_inside_the_window() -> None:
    config = NurtureConfig(send_window=SendWindow())
    retry = after_transient(
        "421 busy",
        attempts=2,
        now=MONDAY_10,
        deadline=SEND.deadline,
        zone=ZoneInfo("UTC"),
        config=config,
    )
    assert retry == Defer(MONDAY_10 + timedelta(minutes=2), "421 busy")
    too_late = after_transient(
        "421 busy",
        attempts=1,
        now=MONDAY_10,
        deadline=MONDAY_10,
        zone=ZoneInfo("UTC"),
        config=config,
    )
    assert too_late == Skip("failed", "421 busy (no retry possible before the deadline)")
