"""The settings page's forms -> the configuration documents the services take.

Both configuration APIs replace the whole document (PUT), so each form changes the fields it
shows on the document as read, and the whole of it goes back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.console.domain.forms import FormValues, number, numbers, stripped

TIMED_STAGES = ["lead", "mql", "sql", "opportunity", "customer"]
DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
KEY_KINDS = ("write", "api")


def scoring_from_form(config: Mapping[str, Any], form: FormValues) -> dict[str, Any]:
    """The scoring config with the settings page's fields applied."""
    out = dict(config)
    out["thresholds"] = {
        **config.get("thresholds", {}),
        "mql_score": number(form.get("thresholds.mql_score")),
        "mql_fit": number(form.get("thresholds.mql_fit")),
        "mql_requires_identity": "thresholds.mql_requires_identity" in form,
    }
    out["mql_sla_hours"] = number(form.get("mql_sla_hours"))
    out["engagement_half_life_days"] = number(form.get("engagement_half_life_days"))
    out["stage_max_days"] = {
        stage: number(form.get(f"stage_max_days.{stage}"))
        for stage in TIMED_STAGES
        if number(form.get(f"stage_max_days.{stage}")) is not None
    }
    return out


def _caps(form: FormValues) -> list[dict[str, Any]]:
    """The send caps' rows; a row left blank is dropped (that is how a cap is removed)."""
    caps = []
    for i in range(int(form.get("caps.count", "0") or 0) + 1):
        limit, per = form.get(f"caps.{i}.max", ""), form.get(f"caps.{i}.per", "")
        if limit.strip() or per.strip():
            caps.append({"max": number(limit), "per": per.strip()})
    return caps


def nurture_from_form(config: Mapping[str, Any], form: FormValues) -> dict[str, Any]:
    """The nurture config with the settings page's fields applied."""
    out = dict(config)
    out["timezone"] = stripped(form, "timezone")
    out["send_window"] = {
        "start": form.get("send_window.start", ""),
        "end": form.get("send_window.end", ""),
        "days": numbers(form, "send_window.days"),
    }
    out["caps"] = _caps(form)
    out["rate_per_minute"] = number(form.get("rate_per_minute"))
    out["from_name"] = form.get("from_name", "")
    out["from_address"] = stripped(form, "from_address")
    return out


def origins_from_text(text: str) -> list[str]:
    """The allowed origins as typed: one a line (or comma-separated)."""
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def suppression_errors(errors: Mapping[str, list[str]], general: list[str]) -> dict[str, list[str]]:
    """The suppression form's problems, under its own names (the page has other forms)."""
    return {"suppression." + k: v for k, v in errors.items()} | {"suppression": general}


def all_messages(errors: Mapping[str, list[str]], general: list[str]) -> list[str]:
    """Every message, for a form of one field."""
    return [m for ms in errors.values() for m in ms] + general
