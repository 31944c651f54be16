"""The pickers beside the funnel page's date range, and the choices each takes."""

from __future__ import annotations

from dataclasses import dataclass

from services.console.domain.charts import COHORT_STAGES


@dataclass(frozen=True)
class Option:
    """A picker beside the date range. `to_reporting=False` options only change what the
    console draws (the CSV, reporting's, is the same); `only_with` sends the option to
    reporting only while another option has a given value."""

    name: str
    label: str
    choices: tuple[tuple[str, str], ...]  # (value, label)
    default: str
    to_reporting: bool = True
    only_with: tuple[str, str] | None = None

    def pick(self, given: str | None) -> str:
        """The value asked for (absent or blank: the default); anything else is a ValueError
        naming the picker and what it takes."""
        value = (given or "").strip() or self.default
        allowed = [v for v, _ in self.choices]
        if value not in allowed:
            shown = ", ".join(v or "(none)" for v in allowed)
            raise ValueError(f"{self.name}: {value!r} is not one of {shown}")
        return value


BREAKDOWN = Option(
    "breakdown",
    "Funnel breakdown",
    (
        ("", "None"),
        ("source", "Source"),
        ("medium", "Medium"),
        ("campaign", "Campaign"),
        ("sequence", "Sequence"),
        ("cohort", "Cohort"),
    ),
    "",
)
COHORT = Option("cohort", "Cohorts by", (("month", "Month"), ("week", "Week")), "month")
COHORT_STAGE = Option(
    "stage",
    "Cohort stage",
    tuple((s, s.upper() if len(s) == 3 else s.capitalize()) for s in COHORT_STAGES),
    "mql",
    to_reporting=False,
)


ATTRIBUTION_MODEL = Option(
    "model",
    "Attribution model",
    (("first_touch", "First touch"), ("last_touch", "Last touch"), ("linear", "Linear")),
    "first_touch",
    to_reporting=False,
)
ATTRIBUTION_BY = Option(
    "credit_by",
    "Attribution by",
    (("source", "Source"), ("campaign", "Campaign")),
    "source",
    to_reporting=False,
)
REVENUE_BY = Option(
    "revenue_by",
    "Revenue by",
    (("source", "Source"), ("campaign", "Campaign"), ("cohort", "Cohort"), ("all", "All")),
    "source",
    to_reporting=False,
)
