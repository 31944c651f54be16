"""Revenue and cost: per first-touch source, campaign and cohort, the period's new leads,
MQLs and customers, revenue and average sale value; and, for campaigns with recorded costs,
cost per lead, per MQL and per customer (acquisition cost).

A customer's sale value is the amount of its deal won (the amount its first `customer`
entry carried), else that of its first `opportunity` entry; customers without either count
as customers but not in the average. A campaign cost recorded for days first..last is spread
evenly over them; the period gets the part of its days it covers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel, Field, model_validator

DIMENSIONS = ("source", "campaign", "cohort")
# The figures of a group, in this order: new leads, MQLs, customers, revenue, and the
# customers with a sale value.
FIGURES = 5
Sums = dict[str | None, dict[str, list[float]]]  # dimension (None: all) -> value -> figures


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


def roll_up(groups: Iterable[Sequence[Any]]) -> Sums:
    """Rows grouped by every dimension at once (each dimension's value, then the figures)
    -> the figures per dimension and value, and for all (dimension None, value "")."""
    found: Sums = {dim: {} for dim in (None, *DIMENSIONS)}
    n = len(DIMENSIONS)
    for row in groups:
        figures = [float(v or 0) for v in row[n:]]
        for dim, g in [(None, ""), *zip(DIMENSIONS, row[:n], strict=True)]:
            sums = found[dim].setdefault(g, [0.0] * len(figures))
            for i, v in enumerate(figures):
                sums[i] += v
    return found


def revenue_rows(found: Sums, costs: Mapping[str, float]) -> list[dict[str, Any]]:
    """The report's rows: every group with a lead, MQL or customer, and every campaign with
    a cost in the period; costs per lead, MQL and customer where a cost is known."""
    for campaign in costs:
        found["campaign"].setdefault(campaign, [0.0] * FIGURES)
    out = []
    for dim in (None, *DIMENSIONS):
        for g in sorted(found[dim]):
            leads, mqls, customers, priced = (int(found[dim][g][i]) for i in (0, 1, 2, 4))
            if not (leads or mqls or customers) and (dim != "campaign" or g not in costs):
                continue
            if dim == "campaign":
                cost = costs.get(g)
            else:
                cost = sum(costs.values()) if dim is None and costs else None
            total = found[dim][g][3]
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
