"""The nurture read models' rules: each email send's facts (sent, bounced, opened, clicked,
unsubscribed: the first time of each, whichever topic delivers it first) and each
enrollment's start and end."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.events import Envelope
from shared.events.types import EmailBounced, EmailEvent, EnrollmentEvent

# Event type -> the column of the send's row keeping its first time.
SEND_FACTS = {
    "email.sent": "sent_at",
    "email.bounced": "bounced_at",
    "email.opened": "opened_at",
    "email.clicked": "clicked_at",
    "email.unsubscribed": "unsubscribed_at",
}
SEND_TIMES = list(dict.fromkeys(SEND_FACTS.values()))
WHO = ("lead_id", "sequence_id", "step_id", "variant_id")
ENROLLMENT_COLUMNS = (
    "workspace_id",
    "enrollment_id",
    "lead_id",
    "sequence_id",
    "started_at",
    "ended_at",
    "exit_reason",
)
Rows = dict[tuple[str, str], dict[str, Any]]


def send_rows(events: Iterable[Envelope]) -> Rows:
    """(workspace, send) -> its row: who it was for (first known) and the first time of each
    fact. Events of other types are skipped, and so is a soft bounce (retried by nurture:
    not a bounce of the send)."""
    rows: Rows = {}
    for e in events:
        column = SEND_FACTS.get(e.type)
        if column is None:
            continue
        data = e.data_as(EmailEvent)
        if not data.send_id or (isinstance(data, EmailBounced) and data.kind == "soft"):
            continue
        row = rows.setdefault(
            (e.workspace_id, data.send_id),
            {"workspace_id": e.workspace_id, "send_id": data.send_id}
            | dict.fromkeys(WHO)
            | dict.fromkeys(SEND_TIMES),
        )
        for who in WHO:
            value = getattr(data, who)
            if row[who] is None and value is not None:
                row[who] = str(value)
        row[column] = e.occurred_at if row[column] is None else min(row[column], e.occurred_at)
    return rows


def enrollment_rows(events: Iterable[Envelope]) -> Rows:
    """(workspace, enrollment) -> its row: when it started, and when and why it ended
    (`completed`, or the reason it exited); an event without an enrollment or sequence id
    is skipped."""
    rows: Rows = {}
    for e in events:
        data = e.data_as(EnrollmentEvent)
        if not data.enrollment_id or not data.sequence_id:
            continue
        row = rows.setdefault(
            (e.workspace_id, data.enrollment_id),
            {
                "workspace_id": e.workspace_id,
                "enrollment_id": data.enrollment_id,
                "lead_id": data.lead_id,
                "sequence_id": data.sequence_id,
            }
            | dict.fromkeys(ENROLLMENT_COLUMNS[4:]),
        )
        if e.type == "enrollment.started":
            row["started_at"] = e.occurred_at
        else:  # exited or completed: one end per enrollment
            row["ended_at"] = e.occurred_at
            row["exit_reason"] = "completed" if e.type == "enrollment.completed" else data.reason
    return rows


def redirect_leads(rows: Iterable[dict[str, Any]], redirect: Mapping[tuple[str, str], str]) -> None:
    """Point each row at the lead its lead was merged into, if it was."""
    for r in rows:
        r["lead_id"] = redirect.get((r["workspace_id"], r["lead_id"]), r["lead_id"])


def ordered(rows: Rows, columns: Iterable[str]) -> dict[str, list[Any]]:
    """Array parameters of the rows, in key order (the order rows are written in)."""
    in_order = [rows[k] for k in sorted(rows)]
    return {c: [r[c] for r in in_order] for c in columns}
