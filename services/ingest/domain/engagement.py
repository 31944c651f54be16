"""Email engagement: an open or a click on a signed link, as a touchpoint."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.ingest.domain.privacy import truncate_ip
from shared.email_links import EmailLink
from shared.events import Envelope

OPENED = "email.opened"
CLICKED = "email.clicked"


def link_fits(kind: str, link: EmailLink) -> bool:
    """A click link carries the address it leads to; an open pixel's link does not."""
    return (kind == CLICKED) == (link.url is not None)


def engagement_event(
    kind: str,
    link: EmailLink,
    *,
    ip: str | None,
    user_agent: str | None,
    ip_truncated: bool,
    now: datetime,
) -> Envelope:
    payload = {
        "lead_id": link.lead_id,
        "send_id": link.send_id,
        "sequence_id": link.sequence_id,
        "step_id": link.step_id,
        "user_agent": user_agent,
        "ip": truncate_ip(ip) if ip and ip_truncated else ip,
    }
    if link.url is not None:
        payload["url"] = link.url
    # Each open or click is its own fact (opening twice is two opens): a fresh id each time.
    return Envelope(
        id=uuid.uuid4(),
        type=kind,
        workspace_id=link.workspace_id,
        lead_key=link.lead_key,
        occurred_at=now,
        received_at=now,
        payload=payload,
    )
