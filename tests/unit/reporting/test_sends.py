"""Email sends and enrollments as reporting keeps them (domain/sends.py)."""

from __future__ import annotations

from services.reporting.domain.sends import (
    SEND_TIMES,
    enrollment_rows,
    ordered,
    redirect_leads,
    send_rows,
)
from tests.unit.reporting.events import WS, email, enrollment, hours, page


def test_each_send_keeps_the_first_time_of_each_fact() -> None:
    rows = send_rows(
        [
            email("email.opened", "s1", at=hours(3)),
            email("email.sent", "s1", at=hours(1), sequence_id="seq", step_id="st", variant_id="b"),
            email("email.opened", "s1", at=hours(2)),
            email("email.clicked", "s1", at=hours(4)),
            email("email.unsubscribed", "s1", at=hours(5)),
        ]
    )
    row = rows[(WS, "s1")]
    assert (row["sent_at"], row["opened_at"], row["clicked_at"]) == (hours(1), hours(2), hours(4))
    assert (row["unsubscribed_at"], row["bounced_at"]) == (hours(5), None)
    # Who the send was for: the first event naming it, the variant too (an extra field).
    assert (row["lead_id"], row["sequence_id"], row["step_id"], row["variant_id"]) == (
        "ld_1",
        "seq",
        "st",
        "b",
    )


def test_a_soft_bounce_is_not_a_bounce_of_the_send() -> None:
    soft = email("email.bounced", "s1", kind="soft")
    hard = email("email.bounced", "s2", at=hours(2))
    rows = send_rows([soft, hard])
    assert list(rows) == [(WS, "s2")]
    assert rows[(WS, "s2")]["bounced_at"] == hours(2)


def test_other_events_and_sends_without_an_id_are_skipped() -> None:
    assert send_rows([page(), email("email.sent", "")]) == {}


def test_an_enrollment_keeps_its_start_and_its_one_end() -> None:
    rows = enrollment_rows(
        [
            enrollment("enrollment.exited", "en_1", at=hours(5), reason="stage:sql"),
            enrollment("enrollment.started", "en_1", at=hours(1)),
            enrollment("enrollment.completed", "en_2", at=hours(6)),
            enrollment("enrollment.started", "", at=hours(1)),
        ]
    )
    assert rows[(WS, "en_1")] == {
        "workspace_id": WS,
        "enrollment_id": "en_1",
        "lead_id": "ld_1",
        "sequence_id": "seq_1",
        "started_at": hours(1),
        "ended_at": hours(5),
        "exit_reason": "stage:sql",
    }
    assert rows[(WS, "en_2")]["exit_reason"] == "completed"
    assert rows[(WS, "en_2")]["started_at"] is None
    assert len(rows) == 2  # without an enrollment id: skipped


def test_rows_follow_merged_leads_and_are_written_in_key_order() -> None:
    rows = send_rows([email("email.sent", "s2", "ld_b"), email("email.sent", "s1", "ld_a")])
    redirect_leads(rows.values(), {(WS, "ld_b"): "ld_a"})
    params = ordered(rows, ["send_id", "lead_id", *SEND_TIMES[:1]])
    assert params == {
        "send_id": ["s1", "s2"],
        "lead_id": ["ld_a", "ld_a"],
        "sent_at": [hours(0), hours(0)],
    }
