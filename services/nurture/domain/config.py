"""A workspace's nurture settings: where and when email may go out, and from whom.

Stored as one JSON document per workspace (`nurture.workspace_settings`); a workspace that
never saved one gets these defaults.
"""

from __future__ import annotations

from datetime import timedelta
from email.errors import MessageError
from email.headerregistry import Address as HeaderAddress
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from services.nurture.domain.timing import CapRule, SendWindow


def _mailable(value: str) -> str:
    """An address the mailer can put in a header (the email package's RFC 5322 parser, the
    one `mailer.compose` uses): a 422 here instead of a 500 when composing."""
    try:
        parsed = HeaderAddress(addr_spec=value)
    except (ValueError, IndexError, MessageError) as exc:
        raise ValueError(f"not a mailable address: {exc}") from None
    if not parsed.addr_spec.isascii():
        raise ValueError("not a mailable address: only ASCII addresses are supported")
    return value


Address = Annotated[
    str,
    StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254),
    AfterValidator(_mailable),
]


def is_zone(name: str) -> bool:
    """Is `name` a time zone of the IANA database (as zoneinfo knows it)?"""
    if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _default_caps() -> list[CapRule]:
    return [CapRule(max=1, per=timedelta(days=1)), CapRule(max=3, per=timedelta(days=7))]


class NurtureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = Field("UTC", description="IANA zone for leads whose own zone is unknown")
    send_window: SendWindow = Field(default_factory=SendWindow)
    caps: list[CapRule] = Field(
        default_factory=_default_caps,
        description="marketing emails per lead across all sequences (rolling windows)",
    )
    rate_per_minute: int = Field(
        600, ge=1, le=1_000_000, description="emails per minute for the workspace"
    )
    from_address: Address = Field("marketing@leadflow.example")
    from_name: str = Field("LeadFlow", max_length=100)
    reply_to: Address | None = None
    require_opt_in: bool = Field(
        False, description="only mail leads whose traits say email_opt_in: true"
    )
    track_opens: bool = True
    track_clicks: bool = True
    send_deadline_hours: float = Field(
        24,
        gt=0,
        le=24 * 365,  # a date this far out still fits in a datetime (fuzzing found the overflow)
        description="a send not possible this long after it was due expires",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not is_zone(value):
            raise ValueError(f"{value!r} is not an IANA time zone name (e.g. 'Europe/Berlin')")
        return value
