"""The lead read models, from leadflow.lead-events: stage entries, each lead's row (when it
reached each stage, deal amounts, first touch) and its identity keys; lead.merged folds a
lead into the one it became.

Every write takes the earliest time (or the amount of the earliest entry), so the order of
events does not matter and a replay changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String

from services.reporting import credit_model
from services.reporting import keys as identity
from services.reporting.models import email_sends, enrollments, lead_keys, leads, stage_entries
from services.reporting.pseudonyms import Pseudonymize
from shared.db import UnitOfWork
from shared.events import Envelope

FUNNEL = ("subscriber", "lead", "mql", "sql", "opportunity", "customer")
LOST = ("disqualified", "recycled")
FACTS = ("lead.lifecycle_changed", "lead.scored", "lead.stalled")


async def apply_lead_events(
    uow: UnitOfWork, envelopes: Sequence[Envelope], *, pseudonymize: Pseudonymize
) -> None:
    await apply_claimed(uow.session, await uow.claim_batch(envelopes), pseudonymize)
    await credit_model.flush(uow.session)


async def apply_claimed(
    session: AsyncSession, todo: Sequence[Envelope], pseudonymize: Pseudonymize
) -> None:
    """Apply lead events already claimed in the inbox (new to this service)."""
    if not todo:
        return
    redirect = await merged_into(
        session,
        {(e.workspace_id, str(e.payload["lead_id"])) for e in todo if e.payload.get("lead_id")},
    )

    def lead_of(e: Envelope) -> str:
        lead = str(e.payload["lead_id"])
        return redirect.get((e.workspace_id, lead), lead)

    moves = [e for e in todo if e.type == "lead.lifecycle_changed" and e.payload.get("to_stage")]
    stages = await _stage_entries(
        session,
        [
            (
                e.workspace_id,
                lead_of(e),
                str(e.payload["to_stage"]),
                e.occurred_at,
                e.payload.get("amount"),
            )
            for e in moves
        ],
    )
    linked: dict[tuple[str, str], str] = {}
    for e in todo:
        if e.type in FACTS and e.payload.get("lead_id"):
            for key in identity.lead_keys(e.payload):
                linked[(e.workspace_id, pseudonymize(e.workspace_id, key))] = lead_of(e)
    moved = await link_keys(session, linked)
    await _upsert_leads(session, stages, {(ws, lead) for (ws, _), lead in linked.items()}, moved)
    for e in todo:
        if e.type == "lead.merged":
            for folded in e.payload.get("merged_lead_ids") or ():
                await merge(session, e.workspace_id, lead_of(e), str(folded))


async def merged_into(
    session: AsyncSession, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """(workspace, lead) -> the lead it was merged into, for those merged."""
    pairs = sorted(set(pairs))
    if not pairs:
        return {}
    # Arrays, not an IN list: one prepared statement whatever the batch; the partial index
    # of merged leads makes this a probe per lead into a tiny index.
    rows = await session.execute(
        _MERGED, {"workspaces": [p[0] for p in pairs], "leads": [p[1] for p in pairs]}
    )
    return {(ws, lead): into for ws, lead, into in rows}


_MERGED = text(
    """
    SELECT l.workspace_id, l.lead_id, l.merged_into
      FROM unnest(CAST(:workspaces AS text[]), CAST(:leads AS text[])) u(ws, lead_id)
      JOIN reporting.leads l ON l.workspace_id = u.ws AND l.lead_id = u.lead_id
     WHERE l.merged_into IS NOT NULL
    """
)


async def _ensure_leads(session: AsyncSession, pairs: set[tuple[str, str]]) -> None:
    if pairs:
        ordered = sorted(pairs)
        await session.execute(
            _ENSURE, {"ws": [p[0] for p in ordered], "leads": [p[1] for p in ordered]}
        )


_ENSURE = text(
    """
    INSERT INTO reporting.leads (workspace_id, lead_id)
    SELECT * FROM unnest(CAST(:ws AS text[]), CAST(:leads AS text[]))
    ON CONFLICT DO NOTHING
    """
)


async def _stage_entries(
    session: AsyncSession, moves: list[tuple[str, str, str, datetime, Any]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Write the stage entries; returns, per lead, what they mean for its row (the stage
    times it reached, amounts), written with the rest of the row by _upsert_leads."""
    if not moves:
        return {}
    first: dict[tuple[str, str, str], tuple[datetime, Any]] = {}
    for ws, lead, stage, at, amount in moves:
        seen = first.get((ws, lead, stage))
        if seen is None or at < seen[0]:
            first[(ws, lead, stage)] = (at, amount)
    entries = sorted(first.items())
    await session.execute(
        _STAGE_ENTRIES,
        {
            "ws": [ws for (ws, _, _), _ in entries],
            "leads": [lead for (_, lead, _), _ in entries],
            "stages": [stage for (_, _, stage), _ in entries],
            "at": [at for _, (at, _) in entries],
        },
    )
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for (ws, lead, stage), (at, amount) in first.items():
        row = rows.setdefault((ws, lead), {"workspace_id": ws, "lead_id": lead, **_EMPTY})
        if stage in FUNNEL:
            for earlier in FUNNEL[
                : FUNNEL.index(stage) + 1
            ]:  # entering a stage reaches those before
                column = f"{earlier}_at"
                row[column] = at if row[column] is None else min(row[column], at)
        elif stage in LOST:
            row[f"{stage}_at"] = at
        if stage == "customer":
            row["won_at"], row["won_amount"] = at, _number(amount)
        if stage == "opportunity":
            row["opportunity_entered_at"], row["opportunity_amount"] = at, _number(amount)
    credit_model.mark_leads(session, rows)
    return rows


_STAGE_ENTRIES = text(
    """
    INSERT INTO reporting.stage_entries AS s (workspace_id, lead_id, stage, entered_at)
    SELECT * FROM unnest(CAST(:ws AS text[]), CAST(:leads AS text[]), CAST(:stages AS text[]),
                         CAST(:at AS timestamptz[]))
    ON CONFLICT (workspace_id, lead_id, stage)
    DO UPDATE SET entered_at = least(s.entered_at, excluded.entered_at)
    """
)


_STAGE_COLUMNS = [f"{s}_at" for s in FUNNEL + LOST]
_EMPTY: dict[str, Any] = {
    c: None
    for c in [
        *_STAGE_COLUMNS,
        "won_at",
        "won_amount",
        "opportunity_entered_at",
        "opportunity_amount",
    ]
}


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _earlier_wins(new: str, old: str, at: str, value: str) -> str:
    """SQL: `value` of the row whose `at` is earlier (order-independent amounts and touches)."""
    return (
        f"CASE WHEN {old}.{at} IS NULL OR {new}.{at} < {old}.{at} "
        f"THEN {new}.{value} ELSE {old}.{value} END"
    )


async def _upsert_leads(
    session: AsyncSession,
    stages: dict[tuple[str, str], dict[str, Any]],
    linked: set[tuple[str, str]],
    moved_keys: list[tuple[str, str]],
) -> None:
    """Each lead's row in one statement: created if new (a lead named by its keys only, too),
    its stage times and amounts from `stages`, and the first touch of `moved_keys` (keys
    just linked to it) when earlier than its own. A row that would not change is not
    rewritten (every version of a lead's row writes each of its indexes)."""
    leads = sorted(set(stages) | linked)
    if not leads:
        return
    rows = [stages.get(lead) or _EMPTY for lead in leads]
    params: dict[str, Any] = {c: [r[c] for r in rows] for c in _EMPTY}
    params["workspace_id"] = [ws for ws, _ in leads]
    params["lead_id"] = [lead for _, lead in leads]
    params["key_ws"] = [ws for ws, _ in moved_keys]
    params["keys"] = [key for _, key in moved_keys]
    await session.execute(_UPSERT_LEADS, params)


_TOUCH_COLUMNS = ("first_touch_at", "first_touch_id", "source", "medium", "campaign")


def _upsert_leads_sql() -> str:
    times = [*_STAGE_COLUMNS, "won_at", "opportunity_entered_at"]
    arrays = ", ".join(
        f"CAST(:{c} AS {'float8' if c.endswith('_amount') else 'timestamptz'}[])" for c in _EMPTY
    )
    updates = [f"{c} = least(l.{c}, excluded.{c})" for c in times]
    updates += [
        "won_amount = " + _earlier_wins("excluded", "l", "won_at", "won_amount"),
        "opportunity_amount = "
        + _earlier_wins("excluded", "l", "opportunity_entered_at", "opportunity_amount"),
    ]
    touch_first = (
        "excluded.first_touch_at IS NOT NULL AND (l.first_touch_at IS NULL OR"
        " (excluded.first_touch_at, excluded.first_touch_id)"
        " < (l.first_touch_at, l.first_touch_id))"
    )
    updates += [
        f"{c} = CASE WHEN {touch_first} THEN excluded.{c} ELSE l.{c} END" for c in _TOUCH_COLUMNS
    ]
    # Something changes iff a time is new or earlier (amounts go with their times), or
    # the first touch is earlier.
    changes = [
        f"excluded.{c} IS NOT NULL AND (l.{c} IS NULL OR excluded.{c} < l.{c})" for c in times
    ]
    changes.append(touch_first)
    return f"""
    WITH touch AS (  -- the earliest first touch of each lead's just linked keys
        SELECT DISTINCT ON (k.workspace_id, k.lead_id)
               k.workspace_id, k.lead_id, t.first_at, t.first_id, t.source, t.medium, t.campaign
          FROM reporting.lead_keys k
          JOIN reporting.key_touches t ON t.workspace_id = k.workspace_id AND t.key = k.key
         WHERE (k.workspace_id, k.key) IN
               (SELECT * FROM unnest(CAST(:key_ws AS text[]), CAST(:keys AS text[])))
         ORDER BY k.workspace_id, k.lead_id, t.first_at, t.first_id
    )
    INSERT INTO reporting.leads AS l
        (workspace_id, lead_id, {", ".join(_EMPTY)}, {", ".join(_TOUCH_COLUMNS)})
    SELECT u.*, t.first_at, t.first_id, t.source, t.medium, t.campaign
      FROM unnest(CAST(:workspace_id AS text[]), CAST(:lead_id AS text[]), {arrays})
           u(workspace_id, lead_id, {", ".join(_EMPTY)})
      LEFT JOIN touch t ON t.workspace_id = u.workspace_id AND t.lead_id = u.lead_id
     ORDER BY u.workspace_id, u.lead_id
    ON CONFLICT (workspace_id, lead_id) DO UPDATE SET {", ".join(updates)}
     WHERE {" OR ".join(f"({c})" for c in changes)}
    """


_UPSERT_LEADS = text(_upsert_leads_sql())


_LINK = text(
    """
    WITH new AS (
        SELECT * FROM unnest(CAST(:workspaces AS text[]), CAST(:keys AS text[]),
                             CAST(:leads AS text[])) n(workspace_id, key, lead_id)
    ),
    moved AS (  -- the leads keys move away from (read before the upsert)
        SELECT k.workspace_id, k.lead_id FROM reporting.lead_keys k
          JOIN new n ON n.workspace_id = k.workspace_id AND n.key = k.key
         WHERE k.lead_id <> n.lead_id
    ),
    linked AS (
        INSERT INTO reporting.lead_keys (workspace_id, key, lead_id)
        SELECT * FROM new ORDER BY 1, 2
        ON CONFLICT (workspace_id, key) DO UPDATE SET lead_id = excluded.lead_id
         WHERE reporting.lead_keys.lead_id <> excluded.lead_id
        RETURNING workspace_id, key
    )
    SELECT true, workspace_id, key FROM linked
    UNION ALL SELECT false, workspace_id, lead_id FROM moved
    """
)


async def link_keys(
    session: AsyncSession, linked: dict[tuple[str, str], str]
) -> list[tuple[str, str]]:
    """Point keys at leads; returns the keys that were linked or moved, whose first touch
    the caller folds into their lead (_upsert_leads). The credit of the leads on both ends
    is rebuilt."""
    if not linked:
        return []
    pairs = sorted(linked.items())
    rows = list(
        await session.execute(
            _LINK,
            {
                "workspaces": [ws for (ws, _), _ in pairs],
                "keys": [key for (_, key), _ in pairs],
                "leads": [lead for _, lead in pairs],
            },
        )
    )
    credit_model.mark_leads(session, [(ws, lead) for key_row, ws, lead in rows if not key_row])
    moved = [(ws, key) for key_row, ws, key in rows if key_row]
    credit_model.mark_keys(session, moved)
    return moved


_FOLD = text(
    """
    UPDATE reporting.leads l
       SET first_touch_at = c.first_at, first_touch_id = c.first_id,
           source = c.source, medium = c.medium, campaign = c.campaign
      FROM (SELECT DISTINCT ON (k.workspace_id, k.lead_id)
                   k.workspace_id, k.lead_id, t.first_at, t.first_id, t.source, t.medium, t.campaign
              FROM reporting.lead_keys k
              JOIN reporting.key_touches t ON t.workspace_id = k.workspace_id AND t.key = k.key
             WHERE (k.workspace_id, k.key) IN (SELECT * FROM unnest(:workspaces, :keys))
             ORDER BY k.workspace_id, k.lead_id, t.first_at, t.first_id) c
     WHERE l.workspace_id = c.workspace_id AND l.lead_id = c.lead_id
       AND (l.first_touch_at IS NULL
            OR (c.first_at, c.first_id) < (l.first_touch_at, l.first_touch_id))
    """
).bindparams(bindparam("workspaces", type_=ARRAY(String)), bindparam("keys", type_=ARRAY(String)))


async def fold_first_touches(session: AsyncSession, pairs: Sequence[tuple[Any, ...]]) -> None:
    """Give the leads these (workspace, key) pairs point at their keys' first touch, when it
    is earlier than the one they have."""
    if pairs:
        credit_model.mark_keys(session, pairs)
        await session.execute(
            _FOLD, {"workspaces": [p[0] for p in pairs], "keys": [p[1] for p in pairs]}
        )


async def merge(session: AsyncSession, workspace_id: str, into: str, folded: str) -> None:
    """`folded` became part of `into`: its stages, amounts, keys, first touch, enrollments
    and emails now count for `into`, and it is left out of reports."""
    if into == folded:
        return
    credit_model.mark_leads(session, [(workspace_id, into), (workspace_id, folded)])
    await _ensure_leads(session, {(workspace_id, into), (workspace_id, folded)})
    params = {"ws": workspace_id, "into": into, "folded": folded}
    earliest = [
        f"{c} = least(a.{c}, b.{c})" for c in [*_STAGE_COLUMNS, "won_at", "opportunity_entered_at"]
    ]
    # The folded lead's first touch wins when it is earlier (or the only one).
    touch_first = (
        "b.first_touch_at IS NOT NULL AND (a.first_touch_at IS NULL"
        " OR (b.first_touch_at, b.first_touch_id) < (a.first_touch_at, a.first_touch_id))"
    )
    touch = [
        f"{c} = CASE WHEN {touch_first} THEN b.{c} ELSE a.{c} END"
        for c in ("first_touch_at", "first_touch_id", "source", "medium", "campaign")
    ]
    sequences = [
        "sequences = ARRAY(SELECT DISTINCT s FROM unnest(a.sequences || b.sequences) s ORDER BY s)"
    ]
    amounts = [
        f"won_amount = {_earlier_wins('b', 'a', 'won_at', 'won_amount')}",
        "opportunity_amount = "
        + _earlier_wins("b", "a", "opportunity_entered_at", "opportunity_amount"),
    ]
    await session.execute(
        text(
            f"UPDATE reporting.leads a SET {', '.join(earliest + amounts + touch + sequences)}"
            " FROM reporting.leads b"
            " WHERE a.workspace_id = :ws AND a.lead_id = :into"
            " AND b.workspace_id = :ws AND b.lead_id = :folded"
        ),
        params,
    )
    await session.execute(
        update(leads)
        .where(
            leads.c.workspace_id == workspace_id,
            or_(leads.c.lead_id == folded, leads.c.merged_into == folded),
        )
        .values(merged_into=into)
    )
    await session.execute(
        text(
            """
            INSERT INTO reporting.stage_entries (workspace_id, lead_id, stage, entered_at)
            SELECT workspace_id, :into, stage, entered_at FROM reporting.stage_entries
             WHERE workspace_id = :ws AND lead_id = :folded
            ON CONFLICT (workspace_id, lead_id, stage)
            DO UPDATE SET entered_at =
                least(reporting.stage_entries.entered_at, excluded.entered_at)
            """
        ),
        params,
    )
    await session.execute(
        stage_entries.delete().where(
            stage_entries.c.workspace_id == workspace_id, stage_entries.c.lead_id == folded
        )
    )
    for table in (lead_keys, enrollments, email_sends):
        await session.execute(
            update(table)
            .where(table.c.workspace_id == workspace_id, table.c.lead_id == folded)
            .values(lead_id=into)
        )
