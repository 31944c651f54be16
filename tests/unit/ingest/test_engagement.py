"""Email engagement rules: which link records what, and the touchpoint it becomes."""

from datetime import UTC, datetime

from services.ingest.domain.engagement import CLICKED, OPENED, engagement_event, link_fits
from shared.email_links import EmailLink

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
OPEN = EmailLink("ws_1", "anon-1", "lead-1", "send-1", "seq-1", "welcome")
CLICK = EmailLink("ws_1", "anon-1", "lead-1", "send-1", "seq-1", "welcome", "https://a.example")


def test_an_open_pixel_records_opens_and_a_tracked_link_clicks_only() -> None:
    assert link_fits(OPENED, OPEN)
    assert link_fits(CLICKED, CLICK)
    assert not link_fits(CLICKED, OPEN)
    assert not link_fits(OPENED, CLICK)


def test_a_click_is_a_touchpoint_of_the_lead_with_its_address() -> None:
    event = engagement_event(
        CLICKED, CLICK, ip="203.0.113.77", user_agent="Mail/1", ip_truncated=False, now=NOW
    )
    assert (event.type, event.workspace_id, event.lead_key) == (CLICKED, "ws_1", "anon-1")
    assert event.occurred_at == event.received_at == NOW
    assert event.payload == {
        "lead_id": "lead-1",
        "send_id": "send-1",
        "sequence_id": "seq-1",
        "step_id": "welcome",
        "user_agent": "Mail/1",
        "ip": "203.0.113.77",
        "url": "https://a.example",
    }


def test_opens_carry_no_address_and_a_truncated_ip_where_the_workspace_asks() -> None:
    event = engagement_event(
        OPENED, OPEN, ip="203.0.113.77", user_agent=None, ip_truncated=True, now=NOW
    )
    assert "url" not in event.payload
    assert event.payload["ip"] == "203.0.113.0"


def test_each_open_is_its_own_fact() -> None:
    first, second = (
        engagement_event(OPENED, OPEN, ip=None, user_agent=None, ip_truncated=True, now=NOW)
        for _ in range(2)
    )
    assert first.id != second.id
    assert first.payload["ip"] is None
