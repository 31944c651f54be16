"""Request and response models of nurture's HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.nurture.domain import templating
from services.nurture.domain.catalog import Status, SuppressionReason
from services.nurture.domain.config import Address
from services.nurture.domain.sequences import SequenceDefinition
from services.nurture.domain.templating import TemplateParts

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254
    ),
]


class TemplateIn(TemplateParts):
    """A template as saved: a name and the three parts (html or text, or both)."""

    name: Name


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    subject: str
    html: str
    text: str
    archived: bool
    created_at: datetime
    updated_at: datetime


class TemplateProblem(BaseModel):
    part: templating.PartName
    line: int | None
    message: str


class PreviewIn(BaseModel):
    """Render for a lead nurture knows (`lead_id`), or for the facts given in `lead` (shaped
    like a lead event's payload: email, traits, score, stage, ...). Neither: an unknown
    person (the templates' defaults show)."""

    model_config = ConfigDict(extra="forbid")

    lead_id: str | None = None
    lead: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one(self) -> PreviewIn:
        if self.lead_id is not None and self.lead is not None:
            raise ValueError("give lead_id or lead, not both")
        return self


class PreviewOut(BaseModel):
    subject: str
    html: str
    text: str


class SequenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    definition: SequenceDefinition


class SequenceChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    definition: SequenceDefinition | None = Field(
        None, description="a new definition becomes version N+1 (enrollments keep theirs)"
    )


class Counts(BaseModel):
    active: int = Field(description="enrollments in progress")
    completed: int
    exited: int
    sent: int = Field(description="emails sent")


class SequenceSummary(BaseModel):
    id: str
    name: str
    status: Status
    current_version: int
    created_at: datetime
    updated_at: datetime
    counts: Counts


class VersionSummary(BaseModel):
    version: int
    created_at: datetime


class SequenceOut(SequenceSummary):
    definition: dict[str, Any] = Field(description="the current version's definition")
    versions: list[VersionSummary]


class VersionOut(BaseModel):
    sequence_id: str
    version: int
    current: bool
    created_at: datetime
    definition: dict[str, Any]


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    reason: Literal["manual"] = "manual"
    detail: str = Field("", max_length=1000)


class SuppressionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    email: str
    reason: SuppressionReason
    detail: str
    created_at: datetime


class SuppressionPage(BaseModel):
    items: list[SuppressionOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class TestSendIn(PreviewIn):
    to: Address


class DraftPreviewIn(TemplateParts):
    """An unsaved template (its parts) and the lead to render it for (as in ``PreviewIn``:
    ``lead_id`` or ``lead``, not both; neither: an unknown person)."""

    lead_id: str | None = None
    lead: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_lead(self) -> DraftPreviewIn:
        if self.lead_id is not None and self.lead is not None:
            raise ValueError("give lead_id or lead, not both")
        return self

    def parts(self) -> TemplateParts:
        return TemplateParts(subject=self.subject, html=self.html, text=self.text)


class EnrollIn(BaseModel):
    lead_id: str


class EnrollmentOut(BaseModel):
    id: str
    sequence_id: str
    version: int
    lead_id: str
    status: str
    entered_at: datetime
    ended_at: datetime | None
    exit_reason: str | None
    next_at: datetime | None
    trigger: str
