"""The delivery decision: what becomes of one due send. Pure: no I/O, ``now`` is a parameter.

``workers/delivery.py`` loads a batch of due sends and what they need (``Batch``), asks
``decide`` about each one in order, and writes the outcomes. The rules, in order:

1. deadline: past its deadline, ``expired`` (no email);
2. address: none (lead's email, its ``email`` trait, the send's ``to_email``): ``failed``;
3. suppression: the address on the workspace's suppression list (unsubscribed, bounced,
   complaint, manual), or the lead's traits saying ``unsubscribed``: ``suppressed``;
4. opt-in: the workspace requires it and the lead's ``email_opt_in`` trait is not true:
   ``suppressed``;
5. send window: outside the workspace's local window (the lead's IANA zone, else the
   workspace's): deferred to the window's next opening, or ``expired`` past the deadline;
6. caps: over the per-lead frequency caps (the lead's sent and in-flight sends of every
   sequence, ``timing.cap_allows``): deferred to when the caps allow it (inside the
   window), or ``capped`` past the deadline;
7. rate: the workspace's ``rate_per_minute`` reached (sends sent or in flight in the last
   minute): deferred until a slot frees, or ``expired`` past the deadline;
8. rendering: the template missing or failing to render: ``failed`` with the reason;

otherwise ``Send``: the rendered message goes out. ``decide_batch`` counts each send it
lets through in the lead's history and the workspace's rate, so that the rest of the batch
sees them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from services.nurture.domain.config import NurtureConfig
from services.nurture.domain.message import Outgoing
from services.nurture.domain.templating import RenderError
from services.nurture.domain.timing import cap_allows, next_in_window, resolve_zone

RATE_PERIOD = timedelta(minutes=1)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)


@dataclass(frozen=True)
class DueSend:
    """A queued send whose time has come (the columns the decision and rendering use)."""

    id: str
    workspace_id: str
    lead_id: str
    sequence_id: str
    version: int
    step_id: str
    variant_id: str | None
    template_id: str
    to_email: str | None
    message_id: str | None
    deadline: datetime
    attempts: int


@dataclass(frozen=True)
class Lead:
    """Nurture's copy of the lead (``store.tables.leads``)."""

    email: str | None = None
    traits: Mapping[str, Any] = field(default_factory=dict)
    score: int | None = None
    fit: int | None = None
    engagement: int | None = None
    stage: str | None = None


@dataclass(frozen=True)
class TemplateSource:
    subject: str
    html: str
    text: str


@dataclass
class Batch:
    """What the worker loaded for one batch of due sends, keyed by workspace and lead.

    ``history`` (the lead's sends counting for caps) and ``rate`` (the workspace's sends of
    the last minute) grow as ``decide_batch`` lets sends through."""

    configs: dict[str, NurtureConfig] = field(default_factory=dict)
    leads: dict[tuple[str, str], Lead] = field(default_factory=dict)
    templates: dict[str, TemplateSource] = field(default_factory=dict)
    suppressed: dict[tuple[str, str], str] = field(default_factory=dict)
    history: dict[tuple[str, str], list[datetime]] = field(default_factory=dict)
    rate: dict[str, list[datetime]] = field(default_factory=dict)

    def config(self, workspace_id: str) -> NurtureConfig:
        return self.configs.get(workspace_id) or NurtureConfig()


@dataclass(frozen=True)
class Send:
    """Claim it and send ``message`` to ``to`` (``zone``: the lead's, for retries)."""

    to: str
    subject: str
    message: Outgoing
    zone: ZoneInfo
    kind: Literal["send"] = "send"


@dataclass(frozen=True)
class Skip:
    """Not sent, ever: the send ends with ``status``; ``reason`` goes to last_error."""

    status: Literal["expired", "failed", "suppressed", "capped"]
    reason: str
    kind: Literal["skip"] = "skip"


@dataclass(frozen=True)
class Defer:
    """Not yet: due again at ``until``."""

    until: datetime
    reason: str
    kind: Literal["defer"] = "defer"


Decision = Send | Skip | Defer

Render = Callable[[DueSend, Lead | None, TemplateSource, str, NurtureConfig], tuple[str, Outgoing]]
"""Renders one send for an address: (subject, wire message); raises on any problem."""

RENDER_ERRORS = (RenderError, ValidationError, ValueError, TypeError)


def traits_of(lead: Lead | None) -> Mapping[str, Any]:
    if lead is None or not isinstance(lead.traits, Mapping):
        return {}
    return lead.traits


def address(send: DueSend, lead: Lead | None) -> str | None:
    """Where the email goes: the lead's email, else its ``email`` trait, else the send's."""
    candidates: list[Any] = []
    if lead is not None:
        candidates += [lead.email, traits_of(lead).get("email")]
    candidates.append(send.to_email)
    for value in candidates:
        if isinstance(value, str) and "@" in value.strip():
            return value.strip()
    return None


def zone_of(traits: Mapping[str, Any], config: NurtureConfig) -> ZoneInfo:
    """The lead's IANA zone (``timezone``, ``time_zone`` or ``tz`` trait), else the
    workspace's."""
    return resolve_zone(
        traits.get("timezone"), traits.get("time_zone"), traits.get("tz"), default=config.timezone
    )


def suppression_reason(
    suppressed: str | None, traits: Mapping[str, Any], config: NurtureConfig
) -> str | None:
    """Why the address may not be mailed (rules 3 and 4), or None."""
    if suppressed is not None:
        return suppressed
    if traits.get("unsubscribed") is True:
        return "unsubscribed (lead traits)"
    if config.require_opt_in and traits.get("email_opt_in") is not True:
        return "no opt-in (the workspace requires email_opt_in)"
    return None


def window_decision(
    now: datetime, deadline: datetime, zone: ZoneInfo, config: NurtureConfig
) -> Decision | None:
    """Rule 5: None inside the send window."""
    opens = next_in_window(now, zone, config.send_window)
    if opens <= now:
        return None
    if opens > deadline:
        return Skip("expired", "no send window before deadline")
    return Defer(opens, "waiting for send window")


def caps_decision(
    history: Sequence[datetime],
    now: datetime,
    deadline: datetime,
    zone: ZoneInfo,
    config: NurtureConfig,
) -> Decision | None:
    """Rule 6: None while one more send keeps every frequency cap."""
    allowed = cap_allows(history, now, config.caps)
    if allowed is None:
        return None
    when = next_in_window(allowed, zone, config.send_window)
    if when > deadline:
        return Skip("capped", f"frequency cap: next allowed {allowed.isoformat()}, after deadline")
    return Defer(when, f"frequency cap: pushed to {when.isoformat()}")


def rate_decision(
    recent: Sequence[datetime], now: datetime, deadline: datetime, config: NurtureConfig
) -> Decision | None:
    """Rule 7: None while the workspace is under its rate."""
    if len(recent) < config.rate_per_minute:
        return None
    when = max(min(recent) + RATE_PERIOD, now + timedelta(seconds=1))
    if when > deadline:
        return Skip("expired", "rate limit")
    return Defer(when, "rate limit")


def decide(send: DueSend, batch: Batch, now: datetime, render: Render) -> Decision:
    """The fate of one due send (rules 1 to 8 of the module docstring, in that order)."""
    wid = send.workspace_id
    config = batch.config(wid)
    lead = batch.leads.get((wid, send.lead_id))
    traits = traits_of(lead)
    if now > send.deadline:
        return Skip("expired", "deadline passed")
    to = address(send, lead)
    if to is None:
        return Skip("failed", "no email address")
    reason = suppression_reason(batch.suppressed.get((wid, to.lower())), traits, config)
    if reason is not None:
        return Skip("suppressed", f"suppressed: {reason}")
    zone = zone_of(traits, config)
    later = (
        window_decision(now, send.deadline, zone, config)
        or caps_decision(
            batch.history.get((wid, send.lead_id), ()), now, send.deadline, zone, config
        )
        or rate_decision(batch.rate.get(wid, ()), now, send.deadline, config)
    )
    if later is not None:
        return later
    template = batch.templates.get(send.template_id)
    if template is None:
        return Skip("failed", f"no template {send.template_id}")
    try:
        subject, message = render(send, lead, template, to, config)
    except RENDER_ERRORS as exc:
        return Skip("failed", f"cannot render: {exc}")
    return Send(to=to, subject=subject, message=message, zone=zone)


def decide_batch(
    sends: Sequence[DueSend], batch: Batch, now: datetime, render: Render
) -> list[Decision]:
    """``decide`` for each send in order; each send let through counts for the caps and
    the rate of the ones after it."""
    decisions: list[Decision] = []
    for send in sends:
        decision = decide(send, batch, now, render)
        if isinstance(decision, Send):
            batch.history.setdefault((send.workspace_id, send.lead_id), []).append(now)
            batch.rate.setdefault(send.workspace_id, []).append(now)
        decisions.append(decision)
    return decisions


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after ``attempts`` failed ones (1 min, 2, 4, ... at most 1 h)."""
    exponent = max(0, min(attempts - 1, 20))
    return min(BACKOFF_BASE * (1 << exponent), BACKOFF_MAX)


def after_transient(
    reply: str,
    *,
    attempts: int,
    now: datetime,
    deadline: datetime,
    zone: ZoneInfo,
    config: NurtureConfig,
) -> Skip | Defer:
    """A try refused for now (4xx, connection trouble before DATA): again after the
    backoff, inside the send window; ``failed`` when that would be past the deadline."""
    when = next_in_window(now + backoff(attempts), zone, config.send_window)
    if when > deadline:
        return Skip("failed", f"{reply} (no retry possible before the deadline)")
    return Defer(when, reply)
