"""Revenue and cost: per first-touch source, campaign and cohort, the period's new leads,
MQLs and customers, revenue and average sale value; and, for campaigns with recorded costs,
cost per lead, per MQL and per customer (acquisition cost).

A customer's sale value is the amount of its deal won (the amount its first `customer`
entry carried), else that of its first `opportunity` entry; customers without either count
as customers but not in the average. A campaign cost recorded for days first..last is spread
evenly over them; the period gets the part of its days it covers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.funnel import LIVE, cohort_params, group_sql
from services.reporting.models import campaign_costs
from services.reporting.period import CohortUnit, Period

DIMENSIONS = ("source", "campaign", "cohort")
# The leads counted: new (subscriber), MQL or customer in the period.
COUNTED = (
    "("
    + " OR ".join(
        f"(l.{s}_at >= :start AND l.{s}_at < :end)" for s in ("subscriber", "mql", "customer")
    )
    + ")"
)


class CampaignCost(BaseModel):
    campaign: str = Field(min_length=1, max_length=200, description="utm_campaign value")
    start: date = Field(description="first day the cost covers")
    end: date = Field(description="last day the cost covers (included)")
    amount: float = Field(ge=0, le=1e12, description="cost over the whole period")

    @model_validator(mode="after")
    def _ordered(self) -> CampaignCost:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


async def record_cost(
    session: AsyncSession, workspace_id: str, cost: CampaignCost, at: datetime
) -> int:
    return int(
        (
            await session.execute(
                insert(campaign_costs)
                .values(workspace_id=workspace_id, **cost.model_dump(), recorded_at=at)
                .returning(campaign_costs.c.id)
            )
        ).scalar_one()
    )


def cost_in(first: date, last: date, costs: Iterable[CampaignCost]) -> dict[str, float]:
    """campaign -> the part of its recorded costs that falls on days first..last."""
    out: dict[str, float] = defaultdict(float)
    for c in costs:
        overlap = (min(last, c.end) - max(first, c.start)).days + 1
        if overlap > 0:
            out[c.campaign] += c.amount * overlap / ((c.end - c.start).days + 1)
    return dict(out)


def money(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _per(cost: float | None, n: int) -> float | None:
    return money(cost / n) if cost is not None and n else None


async def revenue(
    session: AsyncSession, workspace_id: str, period: Period, unit: CohortUnit = "month"
) -> list[dict[str, Any]]:
    assert period.first is not None
    assert period.last is not None
    recorded = await session.execute(
        select(
            campaign_costs.c.campaign,
            campaign_costs.c.start,
            campaign_costs.c.end,
            campaign_costs.c.amount,
        ).where(campaign_costs.c.workspace_id == workspace_id)
    )
    costs = cost_in(period.first, period.last, (CampaignCost(**r._mapping) for r in recorded))
    inside = "l.{0}_at >= :start AND l.{0}_at < :end"
    value = "coalesce(l.won_amount, l.opportunity_amount)"
    params = {"ws": workspace_id, "start": period.start, "end": period.end, "tz": period.zone}
    params |= cohort_params(period, unit)
    groups = [group_sql(dim, unit)[0] for dim in DIMENSIONS]  # type: ignore[arg-type]
    # One pass over the period's leads, grouped by every dimension at once (a few hundred
    # combinations), rolled up per dimension here: cheaper than GROUPING SETS, which sorts
    # the leads once per dimension.
    rows = await session.execute(
        text(
            f"SELECT {', '.join(groups)},"
            f" count(*) FILTER (WHERE {inside.format('subscriber')}),"
            f" count(*) FILTER (WHERE {inside.format('mql')}),"
            f" count(*) FILTER (WHERE {inside.format('customer')}),"
            f" sum({value}) FILTER (WHERE {inside.format('customer')}),"
            f" count({value}) FILTER (WHERE {inside.format('customer')})"
            f" FROM reporting.leads l WHERE {LIVE} AND {COUNTED}"
            f" GROUP BY {', '.join(str(i + 1) for i in range(len(groups)))}"
        ),
        params,
    )
    found: dict[str | None, dict[str, list[float]]] = {dim: {} for dim in (None, *DIMENSIONS)}
    n = len(DIMENSIONS)
    for row in rows:
        figures = [float(v or 0) for v in row[n:]]
        for dim, g in [(None, ""), *zip(DIMENSIONS, row[:n], strict=True)]:
            sums = found[dim].setdefault(g, [0.0] * len(figures))
            for i, v in enumerate(figures):
                sums[i] += v
    for campaign in costs:
        found["campaign"].setdefault(campaign, [0.0] * 5)
    out = []
    for dim in (None, *DIMENSIONS):
        for g in sorted(found[dim]):
            leads, mqls, customers, priced = (int(found[dim][g][i]) for i in (0, 1, 2, 4))
            total = found[dim][g][3]
            if not (leads or mqls or customers) and (dim != "campaign" or g not in costs):
                continue
            if dim == "campaign":
                cost = costs.get(g)
            else:
                cost = sum(costs.values()) if dim is None and costs else None
            out.append(
                {
                    "dimension": dim or "all",
                    "value": g,
                    "leads": leads,
                    "mqls": mqls,
                    "customers": customers,
                    "revenue": money(total),
                    "average_sale_value": money(total / priced) if priced else None,
                    "cost": money(cost),
                    "cost_per_lead": _per(cost, leads),
                    "cost_per_mql": _per(cost, mqls),
                    "cost_per_customer": _per(cost, customers),
                }
            )
    return out
