"""Attribution: which sources and campaigns get the credit for the leads that reached MQL,
SQL and customer in the period.

- first_touch: all the credit to the lead's first touch (its UTM values; `(none)` for a
  direct first touch, `(unknown)` when reporting saw no touch of the lead);
- last_touch: all of it to the last touch with a UTM source at or before the conversion;
- linear: shared equally by every touch with a UTM source at or before the conversion.
A lead with no UTM touch before converting gives its last-touch and linear credit to `(none)`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.period import Period, rate

STAGES = ("mql", "sql", "customer")
MODELS = ("first_touch", "last_touch", "linear")
DIMENSIONS = ("source", "campaign")


async def attribution(
    session: AsyncSession, workspace_id: str, period: Period
) -> list[dict[str, Any]]:
    """Rows (stage, model, dimension, value, credit, share), summed in PostgreSQL from the
    credit kept per lead and conversion (credit_model.py): one index range per stage."""
    rows = await session.execute(
        text(
            """
            SELECT stage, grouping(first_source), grouping(first_campaign), grouping(source),
                   grouping(campaign), first_source, first_campaign, source, campaign,
                   count(*) FILTER (WHERE last), sum(share)
              FROM reporting.lead_credits
             WHERE workspace_id = :ws AND stage IN ('mql', 'sql', 'customer')
               AND at >= :start AND at < :end
             GROUP BY GROUPING SETS ((stage), (stage, first_source), (stage, first_campaign),
                                     (stage, source), (stage, campaign))
            """
        ),
        {"ws": workspace_id, "start": period.start, "end": period.end},
    )
    # Each converting lead has exactly one `last` row per stage (its last UTM touch, or its
    # `(none)` row): counted, they give the converting leads and first- and last-touch
    # credit; linear credit is the sum of the shares.
    credits: dict[tuple[str, str, str, str], float] = defaultdict(float)
    converted: dict[str, int] = defaultdict(int)
    for row in rows:
        stage, *grouped, first_source, first_campaign, source, campaign, leads, shares = row
        by = [i for i, g in enumerate(grouped) if not g]
        if not by:
            converted[stage] = int(leads)
            continue
        dim = ("source", "campaign", "source", "campaign")[by[0]]
        value = (first_source, first_campaign, source, campaign)[by[0]]
        if by[0] < 2:
            credits[(stage, "first_touch", dim, value)] += leads
            continue
        if leads:  # a value that is some lead's last touch
            credits[(stage, "last_touch", dim, value)] += leads
        credits[(stage, "linear", dim, value)] += float(shares)
    order = {s: i for i, s in enumerate(STAGES)} | {m: i for i, m in enumerate(MODELS)}
    return [
        {
            "stage": stage,
            "model": model,
            "dimension": dim,
            "value": value,
            "credit": round(amount, 4),
            "share": rate(amount, converted[stage]),
        }
        for (stage, model, dim, value), amount in sorted(
            credits.items(), key=lambda kv: (order[kv[0][0]], order[kv[0][1]], kv[0][2], kv[0][3])
        )
    ]
