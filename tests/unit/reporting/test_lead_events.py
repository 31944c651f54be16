"""What lead events change in the lead read models (domain/lead_events.py, domain/stages.py)."""

from __future__ import annotations

from datetime import datetime

from services.reporting.domain.lead_events import lead_changes, named_leads
from services.reporting.domain.stages import (
    CONVERSIONS,
    EMPTY_ROW,
    FUNNEL,
    LOST,
    first_entries,
    lead_rows,
    reached,
)
from shared.events import STAGES
from tests.unit.reporting.events import WS, event, hours, merged, moved, scored


def hashed(ws: str, key: str) -> str:
    return f"h({key})"


def test_the_funnel_and_its_exits_come_from_the_shared_stages() -> None:
    assert FUNNEL == ("subscriber", "lead", "mql", "sql", "opportunity", "customer")
    assert LOST == ("disqualified", "recycled")
    assert FUNNEL + LOST == STAGES
    assert set(CONVERSIONS) <= set(FUNNEL)


def test_reaching_a_stage_reaches_every_one_before_it_at_the_earliest_time() -> None:
    assert reached({"customer": hours(5), "mql": hours(7)}) == {stage: hours(5) for stage in FUNNEL}
    assert reached({"lead": hours(1), "sql": hours(3)}) == {
        "subscriber": hours(1),
        "lead": hours(1),
        "mql": hours(3),
        "sql": hours(3),
    }
    assert reached({}) == {}


def test_the_first_entry_of_a_stage_wins_with_its_amount() -> None:
    moves = [
        (WS, "ld_1", "customer", hours(3), 300.0),
        (WS, "ld_1", "customer", hours(1), 100.0),
        (WS, "ld_1", "customer", hours(2), 200.0),
    ]
    assert first_entries(moves) == {(WS, "ld_1", "customer"): (hours(1), 100.0)}


def test_stage_entries_fill_the_lead_row() -> None:
    first = {
        (WS, "ld_1", "opportunity"): (hours(4), 50.0),
        (WS, "ld_1", "mql"): (hours(2), None),
        (WS, "ld_1", "disqualified"): (hours(6), None),
        (WS, "ld_2", "customer"): (hours(1), 99.0),
    }
    rows = lead_rows(first)
    one = rows[(WS, "ld_1")]
    assert set(one) == {"workspace_id", "lead_id", *EMPTY_ROW}
    assert (one["subscriber_at"], one["lead_at"], one["mql_at"]) == (hours(2),) * 3
    assert (one["sql_at"], one["opportunity_at"]) == (hours(4), hours(4))
    assert (one["opportunity_entered_at"], one["opportunity_amount"]) == (hours(4), 50.0)
    assert one["disqualified_at"] == hours(6)
    assert one["customer_at"] is one["won_at"] is one["won_amount"] is None
    two = rows[(WS, "ld_2")]
    assert all(two[f"{s}_at"] == hours(1) for s in FUNNEL)
    assert (two["won_at"], two["won_amount"]) == (hours(1), 99.0)
    assert two["opportunity_entered_at"] is None  # reached, but never entered with a deal


def test_a_lifecycle_change_is_a_stage_entry_of_the_lead_it_was_merged_into() -> None:
    at = datetime(2026, 3, 2, tzinfo=hours(0).tzinfo)
    events = [moved("ld_old", "sql", at=at, amount=12.5), moved("ld_2", "mql")]
    changes = lead_changes(events, {(WS, "ld_old"): "ld_new"}, hashed)
    assert changes.moves == [(WS, "ld_new", "sql", at, 12.5), (WS, "ld_2", "mql", hours(0), None)]


def test_the_lead_facts_point_every_key_of_the_lead_at_it() -> None:
    events = [
        scored("ld_1", email="A@X.io", user_ids=["u1"], anonymous_ids=["a1"]),
        moved("ld_2", "lead", anonymous_ids=["a1"]),  # a later event of the poll wins a key
        event("lead.stalled", {"lead_id": "ld_3", "stage": "mql", "reason": "quiet"}),
    ]
    changes = lead_changes(events, {}, hashed)
    assert changes.links == {
        (WS, "h(lead:ld_1)"): "ld_1",
        (WS, "h(user:u1)"): "ld_1",
        (WS, "h(email:a@x.io)"): "ld_1",
        (WS, "h(anon:a1)"): "ld_2",
        (WS, "h(lead:ld_2)"): "ld_2",
        (WS, "h(lead:ld_3)"): "ld_3",
    }
    assert changes.linked_leads() == {(WS, "ld_1"), (WS, "ld_2"), (WS, "ld_3")}
    assert changes.moves == [(WS, "ld_2", "lead", hours(0), None)]


def test_a_merge_folds_each_named_lead_into_the_survivor() -> None:
    changes = lead_changes([merged("ld_a", "ld_b", "ld_c")], {(WS, "ld_a"): "ld_z"}, hashed)
    assert changes.merges == [(WS, "ld_z", "ld_b"), (WS, "ld_z", "ld_c")]
    assert changes.links == {}
    assert changes.moves == []


def test_a_lead_event_without_a_lead_id_links_no_key() -> None:
    changes = lead_changes([scored("", email="a@x.io")], {}, hashed)
    assert changes.links == {}


def test_the_leads_a_poll_names_are_looked_up_for_merges() -> None:
    events = [moved("ld_1", "mql"), merged("ld_2", "ld_3"), scored(""), scored("ld_1")]
    assert named_leads(events) == {(WS, "ld_1"), (WS, "ld_2")}
