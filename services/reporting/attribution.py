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

from services.reporting.funnel import LIVE
from services.reporting.period import NO_TOUCH, NO_VALUE, Period, rate

STAGES = ("mql", "sql", "customer")
MODELS = ("first_touch", "last_touch", "linear")
DIMENSIONS = ("source", "campaign")


async def attribution(
    session: AsyncSession, workspace_id: str, period: Period
) -> list[dict[str, Any]]:
    """Rows (stage, model, dimension, value, credit, share), summed in PostgreSQL."""
    converting = " UNION ALL ".join(
        f"SELECT '{s}' AS stage, l.lead_id, l.{s}_at AS at,"
        f" CASE WHEN l.first_touch_at IS NULL THEN '{NO_TOUCH}'"
        f" ELSE coalesce(l.source, '{NO_VALUE}') END AS first_source,"
        f" CASE WHEN l.first_touch_at IS NULL THEN '{NO_TOUCH}'"
        f" ELSE coalesce(l.campaign, '{NO_VALUE}') END AS first_campaign"
        f" FROM reporting.leads l WHERE {LIVE} AND l.{s}_at >= :start AND l.{s}_at < :end"
        for s in STAGES
    )
    per_dimension = []
    for dim in DIMENSIONS:
        value = f"coalesce(t.{dim}, '{NO_VALUE}')"
        per_dimension += [
            f"SELECT stage, 'first_touch', '{dim}', first_{dim}, count(*)::float8 FROM c"
            " GROUP BY 1, 4",
            f"SELECT stage, 'last_touch', '{dim}', {value}, count(*)::float8"
            " FROM t WHERE t.last GROUP BY 1, 4",
            f"SELECT stage, 'linear', '{dim}', {value}, sum(1.0 / t.n)::float8"
            " FROM t GROUP BY 1, 4",
            f"SELECT c.stage, m.model, '{dim}', '{NO_VALUE}', count(*)::float8"
            " FROM c CROSS JOIN (VALUES ('last_touch'), ('linear')) m(model)"
            " WHERE NOT EXISTS"
            " (SELECT 1 FROM t WHERE t.stage = c.stage AND t.lead_id = c.lead_id)"
            " GROUP BY 1, 2",
        ]
    rows = await session.execute(
        text(
            f"""
            WITH c AS MATERIALIZED ({converting}),
            t AS MATERIALIZED (
                SELECT c.stage, c.lead_id, t.source, t.campaign,
                       count(*) OVER w AS n,
                       row_number() OVER (w ORDER BY t.at DESC, t.id::text DESC) = 1 AS last
                  FROM c
                  JOIN reporting.lead_keys k ON k.workspace_id = :ws AND k.lead_id = c.lead_id
                  JOIN reporting.touches t ON t.workspace_id = :ws AND t.key = k.key
                       AND t.source IS NOT NULL AND t.at <= c.at
                WINDOW w AS (PARTITION BY c.stage, c.lead_id)
            )
            SELECT * FROM ({" UNION ALL ".join(per_dimension)}) x
            UNION ALL SELECT stage, '', '', '', count(*) FROM c GROUP BY 1
            """
        ),
        {"ws": workspace_id, "start": period.start, "end": period.end},
    )
    credits: dict[tuple[str, str, str, str], float] = {}
    converted: dict[str, int] = defaultdict(int)
    for stage, model, dim, value, amount in rows:
        if model:
            credits[(stage, model, dim, value)] = credits.get(
                (stage, model, dim, value), 0.0
            ) + float(amount)
        else:
            converted[stage] = int(amount)
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
