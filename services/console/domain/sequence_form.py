"""The sequence editor's form <-> a sequence definition (the nurture API's JSON).

Pure. The form's fields are named after the definition's paths (`trigger.stage`,
`steps.2.condition.within_days`, `steps.1.variants.0.template_id`) so that the API's
validation messages land next to the field at fault (domain/validation.py). Values are passed on
as typed, converting only what is plainly a number or a list: the API is the one judge of
what is valid, and its words are the ones the marketer reads.

Adding, removing and moving steps are form submissions too (`op`), applied here and shown
again without saving: the editor works without JavaScript.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from services.console.domain.forms import FormValues, loose_value, number, numbers, words

STEP_KINDS = ("email", "wait", "window", "branch")
WEEKDAYS = [1, 2, 3, 4, 5]


def _indices(form: FormValues, prefix: str) -> list[int]:
    found = set()
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    for key in form:
        match = pattern.match(key)
        if match:
            found.add(int(match.group(1)))
    return sorted(found)


def _trigger(form: FormValues) -> dict[str, Any]:
    kind = form.get("trigger.kind", "stage_entered")
    if kind == "stage_entered":
        return {"kind": kind, "stage": form.get("trigger.stage", "")}
    if kind == "score_crossed":
        return {"kind": kind, "score": number(form.get("trigger.score"))}
    trigger: dict[str, Any] = {"kind": kind, "event_type": form.get("trigger.event_type", "track")}
    if (form.get("trigger.event") or "").strip():
        trigger["event"] = form["trigger.event"].strip()
    raw = (form.get("trigger.properties") or "").strip()
    if raw:
        try:
            trigger["properties"] = json.loads(raw)
        except ValueError:
            trigger["properties"] = raw  # the API says it is not an object
    return trigger


def _condition(form: FormValues, p: str) -> dict[str, Any]:
    kind = form.get(f"{p}.condition.kind", "event")
    if kind == "trait":
        condition: dict[str, Any] = {
            "trait": form.get(f"{p}.condition.trait", ""),
            "op": form.get(f"{p}.condition.op", "eq"),
        }
        value = loose_value(form.get(f"{p}.condition.value"))
        if value is not None:
            condition["value"] = value
        return condition
    if kind == "score":
        return {
            "score": {
                "op": form.get(f"{p}.condition.score_op", "gte"),
                "value": number(form.get(f"{p}.condition.score_value")),
            }
        }
    condition = {"event": form.get(f"{p}.condition.event", "")}
    within = number(form.get(f"{p}.condition.within_days"))
    if within is not None:
        condition["within_days"] = within
    return condition


def _email(form: FormValues, p: str) -> dict[str, Any]:
    step: dict[str, Any] = {}
    variants = _indices(form, f"{p}.variants")
    if variants:
        step["variants"] = [
            {
                "id": form.get(f"{p}.variants.{v}.id", "").strip(),
                "template_id": form.get(f"{p}.variants.{v}.template_id", ""),
                "weight": number(form.get(f"{p}.variants.{v}.weight")) or 1,
            }
            for v in variants
        ]
    elif form.get(f"{p}.template_id"):
        step["template_id"] = form[f"{p}.template_id"]
    # else: none chosen, and nurture says "an email step needs a template_id"
    override = form.get(f"{p}.business_days_only", "")
    if override in ("true", "false"):
        step["business_days_only"] = override == "true"
    return step


def _wait(form: FormValues, p: str) -> dict[str, Any]:
    step: dict[str, Any] = {}
    duration = (form.get(f"{p}.duration") or "").strip()
    if duration:
        step["duration"] = duration
    days = number(form.get(f"{p}.business_days"))
    if days is not None:
        step["business_days"] = days
    return step


def _window(form: FormValues, p: str) -> dict[str, Any]:
    return {
        "start": form.get(f"{p}.start", ""),
        "end": form.get(f"{p}.end", ""),
        "days": numbers(form, f"{p}.days"),
    }


def _branch(form: FormValues, p: str) -> dict[str, Any]:
    return {
        "condition": _condition(form, p),
        "then": form.get(f"{p}.then", "").strip(),
        "else": form.get(f"{p}.else", "").strip(),
    }


STEP_READERS = {"email": _email, "wait": _wait, "window": _window, "branch": _branch}


def _step(form: FormValues, index: int) -> dict[str, Any]:
    p = f"steps.{index}"
    kind = form.get(f"{p}.kind", "")
    step: dict[str, Any] = {"kind": kind, "id": form.get(f"{p}.id", "").strip()}
    reader = STEP_READERS.get(kind)
    return step | reader(form, p) if reader else step


def from_form(form: FormValues) -> tuple[str, dict[str, Any]]:
    """(name, definition) as the form describes them, steps in the form's order."""
    definition: dict[str, Any] = {
        "trigger": _trigger(form),
        "steps": [_step(form, i) for i in _indices(form, "steps")],
        "exit": {
            "stages": form.getlist("exit.stages"),
            "events": words(form.get("exit.events")),
            "on_unsubscribe": "exit.on_unsubscribe" in form,
            "on_hard_bounce": "exit.on_hard_bounce" in form,
        },
        "reentry": {"policy": form.get("reentry.policy", "never")},
        "business_days_only": "business_days_only" in form,
    }
    days = number(form.get("reentry.days"))
    if definition["reentry"]["policy"] == "after_days" or days is not None:
        definition["reentry"]["days"] = days
    if "send_window.custom" in form:
        definition["send_window"] = {
            "start": form.get("send_window.start", ""),
            "end": form.get("send_window.end", ""),
            "days": numbers(form, "send_window.days"),
        }
    return form.get("name", "").strip(), definition


def blank_definition(template_id: str = "") -> dict[str, Any]:
    """What a new sequence starts from: welcome an MQL with one email."""
    return {
        "trigger": {"kind": "stage_entered", "stage": "mql"},
        "steps": [{"kind": "email", "id": "welcome", "template_id": template_id}],
        "exit": {
            "stages": ["sql", "customer"],
            "events": ["Demo Booked"],
            "on_unsubscribe": True,
            "on_hard_bounce": True,
        },
        "reentry": {"policy": "never"},
        "business_days_only": True,
    }


def _free_id(steps: list[dict[str, Any]], kind: str) -> str:
    used = {s.get("id") for s in steps}
    n = 1
    while f"{kind}-{n}" in used:
        n += 1
    return f"{kind}-{n}"


def new_step(kind: str, steps: list[dict[str, Any]], template_id: str = "") -> dict[str, Any]:
    step: dict[str, Any] = {"kind": kind, "id": _free_id(steps, kind)}
    if kind == "email":
        step["template_id"] = template_id
    elif kind == "wait":
        step["duration"] = "P2D"
    elif kind == "window":
        step |= {"start": "09:00", "end": "17:00", "days": list(WEEKDAYS)}
    elif kind == "branch":
        step |= {"condition": {"event": "email.clicked", "within_days": 7}, "then": "", "else": ""}
    return step


class BadOp(ValueError):
    pass


def apply_op(definition: Mapping[str, Any], op: str, template_id: str = "") -> dict[str, Any]:
    """The definition after an editor action: add:KIND, remove:I, up:I, down:I, split:I
    (make an email an A/B split), unsplit:I, add_variant:I, remove_variant:I:J."""
    result = copy.deepcopy(dict(definition))
    steps: list[dict[str, Any]] = result.setdefault("steps", [])
    name, _, arg = op.partition(":")
    args = [int(a) for a in arg.split(":") if a.isdigit()] if arg else []
    if name == "add" and arg in STEP_KINDS:
        steps.append(new_step(arg, steps, template_id))
        return result
    if not args or not 0 <= args[0] < len(steps):
        raise BadOp(f"unknown editor action {op!r}")
    i = args[0]
    step = steps[i]
    if name == "remove":
        steps.pop(i)
    elif name == "up" and i > 0:
        steps[i - 1], steps[i] = steps[i], steps[i - 1]
    elif name == "down" and i < len(steps) - 1:
        steps[i + 1], steps[i] = steps[i], steps[i + 1]
    elif name == "split" and step.get("kind") == "email":
        first = step.pop("template_id", "") or template_id
        step["variants"] = [
            {"id": "a", "template_id": first, "weight": 1},
            {"id": "b", "template_id": first, "weight": 1},
        ]
    elif name == "unsplit" and step.get("kind") == "email":
        variants = step.pop("variants", None) or [{}]
        step["template_id"] = variants[0].get("template_id", "")
    elif name == "add_variant" and step.get("variants") is not None:
        used = {v.get("id") for v in step["variants"]}
        letter = next(c for c in "abcdefghijklmnopqrstuvwxyz" if c not in used)
        step["variants"].append({"id": letter, "template_id": template_id, "weight": 1})
    elif name == "remove_variant" and len(args) == 2 and step.get("variants"):
        if 0 <= args[1] < len(step["variants"]):
            step["variants"].pop(args[1])
    elif name not in ("up", "down"):
        raise BadOp(f"unknown editor action {op!r}")
    return result


def condition_kind(condition: Mapping[str, Any] | None) -> str:
    for key in ("trait", "score", "event"):
        if condition and key in condition:
            return key
    return "event"


def describe_step(step: Mapping[str, Any]) -> str:
    """A step in a few words, for the results table and the step headings."""
    kind = step.get("kind")
    if kind == "email":
        variants = step.get("variants")
        if variants:
            return f"Email, A/B split over {len(variants)} variants"
        return "Email"
    if kind == "wait":
        if step.get("business_days"):
            return f"Wait {step['business_days']} business days"
        return f"Wait {step.get('duration', '')}"
    if kind == "window":
        return f"Wait for the window {step.get('start')} to {step.get('end')}"
    if kind == "branch":
        return f"Branch: then {step.get('then') or '?'}, else {step.get('else') or '?'}"
    return str(kind)


def focus_after(op: str, definition: Mapping[str, Any]) -> str | None:
    """The element the editor focuses after an action: the step just added, else none."""
    return f"step-{len(definition['steps']) - 1}" if op.startswith("add:") else None
