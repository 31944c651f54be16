"""What the reporting API takes and answers: the parameters every report shares, the
campaign cost it records, and each report's columns (JSON keys and CSV columns alike)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.reporting.domain.cohorts import STAGES as COHORT_STAGES
from services.reporting.domain.period import Period
from services.reporting.domain.revenue import CampaignCost

__all__ = [
    "ATTRIBUTION_COLUMNS",
    "COHORT_COLUMNS",
    "FORECAST_COLUMNS",
    "FUNNEL_COLUMNS",
    "NURTURE_COLUMNS",
    "REVENUE_COLUMNS",
    "VOLUME_COLUMNS",
    "CampaignCost",
    "Report",
]


@dataclass(frozen=True)
class Report:
    """The parameters every report takes."""

    period: Period
    as_of: datetime
    csv: bool

    def meta(self) -> dict[str, Any]:
        return {
            "start": self.period.first,
            "end": self.period.last,
            "tz": self.period.zone,
            "as_of": self.as_of,
        }


FUNNEL_COLUMNS = [
    "stage",
    "reached",
    "conversion_from_previous",
    "conversion_from_top",
    "converted",
    "in_progress",
    "lost",
    "window_days",
]
VOLUME_COLUMNS = ["date", "measure", "type", "count"]
COHORT_COLUMNS = [
    "cohort",
    "age",
    "leads",
    *(f"reached_{s}" for s in COHORT_STAGES),
    *(f"share_{s}" for s in COHORT_STAGES),
]
ATTRIBUTION_COLUMNS = ["stage", "model", "dimension", "value", "credit", "share"]
REVENUE_COLUMNS = [
    "dimension",
    "value",
    "leads",
    "mqls",
    "customers",
    "revenue",
    "average_sale_value",
    "cost",
    "cost_per_lead",
    "cost_per_mql",
    "cost_per_customer",
]
NURTURE_COLUMNS = [
    "sequence_id",
    "step_id",
    "variant_id",
    "enrolled",
    "sent",
    "opened",
    "clicked",
    "unsubscribed",
    "bounced",
    "reached_goal",
    "open_rate",
    "click_rate",
    "unsubscribe_rate",
    "bounce_rate",
    "goal_rate",
]
FORECAST_COLUMNS = [
    "measure",
    "from_stage",
    "pipeline",
    "observed_leads",
    "observed_conversion",
    "median_days",
    "expected",
]
