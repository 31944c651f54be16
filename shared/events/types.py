"""One payload model per event type, and the map from type name to model.

Facts are named in the past tense. Adding a type: define the model, add it to EVENT_TYPES.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


# --- touchpoints: what a visitor did, as received by ingest (Segment's vocabulary) ---
class Touchpoint(Payload):
    message_id: str = Field(min_length=1)
    anonymous_id: str | None = None
    user_id: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    integrations: dict[str, Any] = Field(default_factory=dict)
    original_timestamp: str | None = None  # the client's `timestamp`, as it sent it
    sent_at: str | None = None  # the client's `sentAt` (or its batch's), as it sent it


class Tracked(Touchpoint):
    event: str = Field(min_length=1)
    properties: dict[str, Any] = Field(default_factory=dict)


class Identified(Touchpoint):
    traits: dict[str, Any] = Field(default_factory=dict)


class PageViewed(Touchpoint):
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class ScreenViewed(PageViewed):
    pass


class Grouped(Touchpoint):
    group_id: str = Field(min_length=1)
    traits: dict[str, Any] = Field(default_factory=dict)


class Aliased(Touchpoint):
    previous_id: str = Field(min_length=1)


# --- lead events: produced by scoring ---
class Factor(Payload):
    name: str
    contribution: float  # points of the 0-100 score it adds (negative: takes away)
    text: str = ""  # in words, e.g. "viewed pricing 3 times in 7 days: +12"


Stage = Literal[
    "subscriber", "lead", "mql", "sql", "opportunity", "customer", "disqualified", "recycled"
]
STAGES: tuple[Stage, ...] = get_args(Stage)


class LeadFacts(Payload):
    """Who the lead is, carried by lead events so consumers need no look-up."""

    lead_id: str
    email: str | None = None
    traits: dict[str, Any] = Field(default_factory=dict)
    user_ids: list[str] = Field(default_factory=list)
    anonymous_ids: list[str] = Field(default_factory=list)


class LeadScored(LeadFacts):
    score: int = Field(ge=0, le=100)
    probability: float = Field(ge=0, le=1)
    fit: int | None = None
    engagement: int | None = None
    model_version: str
    previous_score: int | None = None  # the score last published
    factors: list[Factor] = Field(default_factory=list)


class LeadLifecycleChanged(LeadFacts):
    from_stage: Stage | None
    to_stage: Stage
    reason: str
    actor: Literal["auto", "event", "sales", "api", "merge"] = "auto"
    score: int | None = None
    fit: int | None = None
    engagement: int | None = None
    model_version: str | None = None
    amount: float | None = None  # a deal's amount, when an event carried one


class LeadStalled(LeadFacts):
    stage: Stage
    since: str | None = None
    reason: str


class LeadMerged(Payload):
    lead_id: str
    merged_lead_ids: list[str]


# --- email events: produced by nurture ---
class EmailEvent(Payload):
    lead_id: str
    send_id: str
    sequence_id: str | None = None
    step_id: str | None = None
    variant_id: str | None = None  # the step's A/B variant the send used, if it had several
    version: int | None = None  # the sequence's version the send belongs to
    template_id: str | None = None  # the template the send rendered


class EmailSent(EmailEvent):
    to: str
    subject: str
    message_id: str | None = None  # the email's Message-ID header
    outcome_unknown: bool = False  # the server's answer was lost: assumed delivered


class EmailOpened(EmailEvent):
    user_agent: str | None = None
    ip: str | None = None


class EmailClicked(EmailOpened):
    url: str


class EmailBounced(EmailEvent):
    kind: Literal["hard", "soft"]
    detail: str = ""
    to: str | None = None  # the address that bounced


class EmailUnsubscribed(EmailEvent):
    email: str | None = None  # the address suppressed (normalised)


# --- enrollments: produced by nurture (on the email-events topic) ---
class EnrollmentEvent(Payload):
    lead_id: str
    enrollment_id: str
    sequence_id: str
    version: int
    trigger: str | None = None  # started: what enrolled it (an event id, or manual:...)
    reason: str | None = None  # exited: why (e.g. "stage:sql", "unsubscribed")


# --- workspaces: compacted topic, the one thing every service must know ---
# --- privacy ---
class ErasureRequested(Payload):
    """Erase a person (asked through ingest's API, carried on the touchpoints topic under
    the person's key, so it follows everything they did before): every service removes what
    it holds on them and ignores what comes later."""

    erasure_id: str = Field(min_length=1)
    user_id: str | None = None
    email: str | None = None


class LeadErased(Payload):
    """Scoring removed this lead on an erasure; other services drop what they keep under it."""

    lead_id: str = Field(min_length=1)
    erasure_id: str = Field(min_length=1)


class WorkspaceChanged(Payload):
    """A workspace's whole current state (the topic is compacted: the last one wins)."""

    name: str
    write_key_hashes: list[str] = Field(default_factory=list)
    api_key_hashes: list[str] = Field(default_factory=list)
    allowed_origins: list[str] = Field(default_factory=list)
    truncate_ip: bool = False
    deleted: bool = False


EVENT_TYPES: dict[str, type[Payload]] = {
    "track": Tracked,
    "identify": Identified,
    "page": PageViewed,
    "screen": ScreenViewed,
    "group": Grouped,
    "alias": Aliased,
    "lead.scored": LeadScored,
    "lead.lifecycle_changed": LeadLifecycleChanged,
    "lead.merged": LeadMerged,
    "lead.stalled": LeadStalled,
    "email.sent": EmailSent,
    "email.opened": EmailOpened,
    "email.clicked": EmailClicked,
    "email.bounced": EmailBounced,
    "email.unsubscribed": EmailUnsubscribed,
    "enrollment.started": EnrollmentEvent,
    "enrollment.exited": EnrollmentEvent,
    "enrollment.completed": EnrollmentEvent,
    "workspace.changed": WorkspaceChanged,
    "privacy.erasure_requested": ErasureRequested,
    "lead.erased": LeadErased,
}

# The vocabulary by family: the one place a service learns which types exist. A service
# that reacts to some of them names them in its handlers' map, not in a set of its own.
TOUCHPOINT_TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias"})
EMAIL_TYPES = frozenset({t for t in EVENT_TYPES if t.startswith("email.")})
ENROLLMENT_TYPES = frozenset({t for t in EVENT_TYPES if t.startswith("enrollment.")})
LEAD_TYPES = frozenset({t for t in EVENT_TYPES if t.startswith("lead.")})
# What a person did (their behaviour), as opposed to what LeadFlow concluded about them.
BEHAVIOUR_TYPES = TOUCHPOINT_TYPES | EMAIL_TYPES
