"""Reporting's pure parts: identity keys, UTM values, buckets, credit, costs, forecast."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.reporting.domain.buckets import volume_bucket
from services.reporting.domain.cohorts import age_of
from services.reporting.domain.forecast import expected
from services.reporting.domain.funnel import shape
from services.reporting.domain.keys import lead_keys, touch_key, utm
from services.reporting.domain.revenue import CampaignCost, cost_in
from shared.events.types import (
    EmailOpened,
    ErasureRequested,
    Identified,
    LeadFacts,
    LeadScored,
    PageViewed,
    Tracked,
)

AT = datetime(2026, 3, 1, tzinfo=UTC)


def page(**fields: object) -> PageViewed:
    return PageViewed.model_validate({"message_id": "m", **fields})


def test_a_touch_is_filed_under_its_strongest_key() -> None:
    assert touch_key(page(anonymous_id="a", user_id="u")) == "user:u"
    identify = Identified(message_id="m", anonymous_id="a", traits={"email": " Ada@X.io"})
    assert touch_key(identify) == "email:ada@x.io"
    track = Tracked(
        message_id="m", event="x", anonymous_id="a", context={"traits": {"email": "a@x"}}
    )
    assert touch_key(track) == "email:a@x"
    # Only an identify call's own traits name the person (a page's extra ones do not).
    assert touch_key(page(anonymous_id="a", traits={"email": "a@x"})) == "anon:a"
    assert touch_key(EmailOpened(lead_id="ld_1", send_id="s")) == "lead:ld_1"
    assert touch_key(page()) is None


def test_a_touch_without_touchpoint_fields_is_read_as_its_payload_was() -> None:
    # An open naming no lead falls through to the fields it may carry as extras.
    opened = EmailOpened.model_validate({"lead_id": "", "send_id": "s", "anonymous_id": "a"})
    assert touch_key(opened) == "anon:a"
    # An erasure request comes on the touchpoints topic too: filed under its userId.
    assert touch_key(ErasureRequested(erasure_id="e", user_id="u")) == "user:u"
    assert touch_key(ErasureRequested(erasure_id="e", email="a@x")) is None


def test_a_lead_event_names_every_key_of_the_lead() -> None:
    facts = LeadFacts(lead_id="ld_1", email="A@X.io", user_ids=["u1"], anonymous_ids=["a1"])
    assert lead_keys(facts) == ["lead:ld_1", "user:u1", "email:a@x.io", "anon:a1"]
    assert lead_keys(LeadFacts(lead_id="ld_2", email=None)) == ["lead:ld_2"]
    scored = LeadScored(
        lead_id="ld_3", email="not-an-email", score=1, probability=0.1, model_version="v1"
    )
    assert lead_keys(scored) == ["lead:ld_3"]


def test_utm_values_come_from_the_context_or_the_properties() -> None:
    tracker = page(context={"campaign": {"source": "google", "medium": "cpc", "name": "spring"}})
    assert utm(tracker) == ("google", "cpc", "spring")
    legacy = page(context={"campaign": {"source": "bing", "campaign": "old-name"}})
    assert utm(legacy) == ("bing", None, "old-name")
    server = page(properties={"utm_source": "news", "utm_campaign": "may"})
    assert utm(server) == ("news", None, "may")
    assert utm(page(context={"campaign": {"name": "no-source"}})) == (None, None, None)
    assert utm(page(properties={"utm_source": ""})) == (None, None, None)
    # A type without `properties` reads them as an extra field, as the payload's dict did.
    extra = Identified.model_validate({"message_id": "m", "properties": {"utm_source": "x"}})
    assert utm(extra) == ("x", None, None)
    assert utm(EmailOpened(lead_id="ld", send_id="s")) == (None, None, None)


@pytest.mark.parametrize("zone", ["Asia/Kathmandu", "Australia/Eucla", "America/St_Johns"])
def test_a_bucket_never_spans_two_local_days(zone: str) -> None:
    tz = ZoneInfo(zone)
    for minutes in range(0, 60 * 24 * 3, 7):
        at = AT + timedelta(minutes=minutes)
        bucket = volume_bucket(at)
        assert bucket <= at < bucket + timedelta(minutes=15)
        assert bucket.astimezone(tz).date() == at.astimezone(tz).date()


def test_a_campaign_cost_is_spread_over_its_days() -> None:
    cost = CampaignCost(
        campaign="spring", start=date(2026, 3, 1), end=date(2026, 3, 10), amount=100
    )
    assert cost_in(date(2026, 3, 9), date(2026, 3, 31), [cost]) == {"spring": 20.0}
    assert cost_in(date(2026, 4, 1), date(2026, 4, 2), [cost]) == {}
    with pytest.raises(ValidationError, match="end must not be before start"):
        CampaignCost(campaign="x", start=date(2026, 3, 2), end=date(2026, 3, 1), amount=1)
    with pytest.raises(ValidationError, match="amount"):
        CampaignCost(campaign="x", start=date(2026, 3, 1), end=date(2026, 3, 1), amount=-1)


def test_cohort_ages_count_whole_weeks_and_calendar_months() -> None:
    assert age_of(date(2026, 3, 2), datetime(2026, 3, 8, 23, 59), "week") == 0
    assert age_of(date(2026, 3, 2), datetime(2026, 3, 9), "week") == 1
    assert age_of(date(2026, 1, 1), datetime(2026, 3, 31), "month") == 2


def test_the_forecast_counts_the_chance_still_left_to_each_open_lead() -> None:
    times = [1, 2, 3, 10]  # observed conversion times (days); half the leads convert
    # A lead open for 0 days: 0.5 * F(7) = 0.375.
    assert expected(0.5, times, {0: 1}, 7) == pytest.approx(0.375)
    # Open for 5 days: (0.5 * (F(12) - F(5))) / (1 - 0.5 * F(5)) = 0.125 / 0.625.
    assert expected(0.5, times, {5: 2}, 7) == pytest.approx(2 * 0.2)
    assert expected(0.0, times, {0: 10}, 7) == 0
    assert expected(0.5, [], {0: 10}, 7) == 0


def test_the_funnel_shape_splits_converted_in_progress_and_lost() -> None:
    windows = {"subscriber": 30, "lead": 30, "mql": 14, "sql": 30, "opportunity": 60}
    result = shape([10, 8, 4, 2, 1, 1], [8, 4, 2, 1, 1], [1, 2, 1, 0, 0], windows)
    lead = result["stages"][1]
    assert (lead["converted"], lead["in_progress"], lead["lost"]) == (4, 2, 2)
    assert result["stages"][-1]["in_progress"] is None
    assert result["largest_drop_off"] == {"from": "lead", "to": "mql", "lost_share": 0.5}
