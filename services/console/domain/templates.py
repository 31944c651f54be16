"""Email templates as the console edits them: a new template's text, the save's problems by
field, and the live preview's page (rendered by nurture: POST /v1/templates/preview).

The preview is a page of its own, shown in an iframe under a strict sandboxing CSP: the
email's HTML never runs in the console's origin."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import escape

from services.console.domain.forms import FormValues
from services.console.domain.leads import primary_email
from services.console.domain.validation import field_errors

PARTS = ("name", "subject", "html", "text")
BLANK = {
    "name": "",
    "subject": "Hello {{ lead.first_name | default('there') }}",
    "html": "<p>Hi {{ lead.first_name | default('there') }},</p>\n<p>…</p>\n"
    '<p><a data-leadflow="unsubscribe" href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
    "text": "Hi {{ lead.first_name | default('there') }},\n…\nUnsubscribe: {{ unsubscribe_url }}",
}
PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data: http: https:; sandbox"


def values(form: FormValues) -> dict[str, str]:
    """The template's fields as the form has them."""
    return {k: form.get(k, "") for k in PARTS}


def _problem_list(detail: Any) -> list[Any] | None:
    """Nurture's template problems ({part, line, message}), as a list or under "problems"."""
    if isinstance(detail, Mapping):
        detail = detail.get("problems")
    if isinstance(detail, list) and detail and isinstance(detail[0], dict) and "part" in detail[0]:
        return detail
    return None


def template_errors(detail: Any) -> tuple[dict[str, list[str]], list[str]]:
    """Messages by field from nurture's 422 for a template (its problems list {part, line,
    message}); a bad name comes as pydantic's usual problems."""
    problems = _problem_list(detail)
    if problems is None:
        return field_errors(detail)
    errors: dict[str, list[str]] = {}
    for p in problems:
        where = f"line {p['line']}: " if p.get("line") else ""
        errors.setdefault(str(p["part"]), []).append(where + str(p["message"]))
    return errors, []


def lead_choices(leads: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The leads the preview can be rendered for, labelled by email when known."""
    return [
        {"id": lead["id"], "label": lead["traits"].get("email") or lead["id"]} for lead in leads
    ]


def lead_facts(lead: Mapping[str, Any]) -> dict[str, Any]:
    """A scoring lead shaped like a lead event's payload (what nurture renders a lead from)."""
    return {
        "lead_id": lead["id"],
        "email": primary_email(lead),
        "traits": lead.get("traits") or {},
        "score": lead.get("score"),
        "fit": lead.get("fit"),
        "engagement": lead.get("engagement"),
        "stage": lead.get("stage"),
    }


def preview_request(draft: Mapping[str, str], lead: Mapping[str, Any] | None) -> dict[str, Any]:
    """The body of nurture's preview call: the draft, for the lead's facts (or nobody's)."""
    return {
        "subject": draft["subject"],
        "html": draft["html"],
        "text": draft["text"],
        "lead_id": None,
        "lead": lead_facts(lead) if lead is not None else None,
    }


@dataclass(frozen=True)
class Problem:
    part: str
    line: int | None
    message: str


def preview_problems(detail: Any) -> list[Problem]:
    """Nurture's 422 for a preview as problems: its own {part, line, message} list, or
    pydantic's problems with the request (e.g. a subject too long) named by their field."""
    listed = _problem_list(detail)
    if listed is not None:
        return [Problem(str(p["part"]), p.get("line") or None, str(p["message"])) for p in listed]
    if not isinstance(detail, list):
        return [Problem("template", None, str(detail))]
    problems = []
    for p in detail:
        if not isinstance(p, dict):
            problems.append(Problem("template", None, str(p)))
            continue
        loc = [str(x) for x in p.get("loc") or [] if x != "body"]
        message = str(p.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(Problem(".".join(loc) or "template", None, message))
    return problems


def problems_body(problems: Iterable[Problem]) -> str:
    items = "".join(
        f"<li>{escape(p.part)}{f' line {p.line}' if p.line else ''}: {escape(p.message)}</li>"
        for p in problems
    )
    return f"<p><strong>The template has problems:</strong></p><ul>{items}</ul>"


def rendered_body(rendered: Mapping[str, Any]) -> str:
    """The email as nurture rendered it: its subject above its HTML (or its text)."""
    return (
        '<div style="display:block;font:14px sans-serif;border-bottom:1px solid #ccc;'
        f'padding:4px 0 8px;margin-bottom:8px"><strong>Subject:</strong> '
        f"{escape(rendered['subject'])}</div>"
        + (rendered.get("html") or f"<pre>{escape(rendered.get('text') or '')}</pre>")
    )


def preview_page(body: str) -> str:
    return f'<!doctype html><html lang="en"><meta charset="utf-8"><title>Preview</title>{body}'
