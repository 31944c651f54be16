"""The email of a send, and of a preview: the render context, the template rendered in the
sandbox, click tracking and the open pixel, composed to wire bytes. Pure: no I/O.

A real send and a preview build their context the same way (``render_context``); they
differ only in the unsubscribe and preferences URLs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.nurture.domain.config import NurtureConfig
from services.nurture.domain.delivery import DueSend, Lead, TemplateSource
from services.nurture.domain.links import add_open_pixel, track_links
from services.nurture.domain.message import Outgoing, compose
from services.nurture.domain.templating import Rendered, TemplateParts, lead_context, render
from services.nurture.domain.unsubscribe import unsubscribe_token, unsubscribe_url
from shared.email_links import EmailLink, sign

PREVIEW_UNSUBSCRIBE_URL = "#unsubscribe-preview"
PREVIEW_PREFERENCES_URL = "#preferences-preview"


def render_context(
    facts: Mapping[str, Any],
    *,
    workspace: str,
    unsubscribe_url: str,
    preferences_url: str,
    now: datetime,
) -> dict[str, Any]:
    """What a template sees: the lead (``templating.lead_context`` of ``facts``, shaped
    like a lead event's payload), the workspace's name, the two links and ``now``."""
    context = lead_context(facts)
    context.update(
        workspace=workspace,
        unsubscribe_url=unsubscribe_url,
        preferences_url=preferences_url,
        now=now,
    )
    return context


def render_preview(
    parts: TemplateParts,
    facts: Mapping[str, Any],
    *,
    workspace: str,
    now: datetime,
    unsubscribe_url: str = PREVIEW_UNSUBSCRIBE_URL,
    preferences_url: str = PREVIEW_PREFERENCES_URL,
) -> Rendered:
    """A template rendered for a preview (raises ``RenderError``): the same sandbox and
    context as a real send, with placeholder unsubscribe and preferences links."""
    context = render_context(
        facts,
        workspace=workspace,
        unsubscribe_url=unsubscribe_url,
        preferences_url=preferences_url,
        now=now,
    )
    return render(parts, context)


def lead_facts(send: DueSend, lead: Lead | None, to: str) -> dict[str, Any]:
    facts: dict[str, Any] = {"lead_id": send.lead_id, "email": to}
    if lead is not None:
        facts.update(
            traits=lead.traits,
            score=lead.score,
            fit=lead.fit,
            engagement=lead.engagement,
            stage=lead.stage,
        )
    return facts


@dataclass(frozen=True)
class SendRenderer:
    """Renders the sends of one batch (``domain.delivery.Render``)."""

    secret: str
    public_url: str
    tracking_url: str
    now: datetime
    workspace_names: Mapping[str, str]

    def __call__(
        self,
        send: DueSend,
        lead: Lead | None,
        template: TemplateSource,
        to: str,
        config: NurtureConfig,
    ) -> tuple[str, Outgoing]:
        """The subject and the wire message of one send (raises on any problem)."""
        ids = {
            "workspace_id": send.workspace_id,
            "lead_id": send.lead_id,
            "email": to,
            "send_id": send.id,
        }
        unsubscribe = unsubscribe_url(self.public_url, self.secret, **ids)
        context = render_context(
            lead_facts(send, lead, to),
            workspace=self.workspace_names.get(send.workspace_id) or send.workspace_id,
            unsubscribe_url=unsubscribe,
            preferences_url=unsubscribe,
            now=self.now,
        )
        parts = TemplateParts(subject=template.subject, html=template.html, text=template.text)
        rendered = render(parts, context)
        html = self._tracked(send, rendered.html, config, unsubscribe)
        message = compose(
            message_id=send.message_id or send.id,
            from_address=config.from_address,
            from_name=config.from_name,
            to=to,
            subject=rendered.subject,
            text=rendered.text,
            html=html,
            unsubscribe_url=unsubscribe,
            unsubscribe_token=unsubscribe_token(self.secret, **ids),
            date=self.now,
            reply_to=config.reply_to,
        )
        return rendered.subject, message

    def _tracked(self, send: DueSend, html: str, config: NurtureConfig, unsubscribe: str) -> str:
        """Links through ingest's ``/t/c/`` and the open pixel ``/t/o/``, as configured."""
        if not html:
            return html
        tracking = self.tracking_url.rstrip("/")

        def link(url: str | None) -> str:
            return sign(
                EmailLink(
                    workspace_id=send.workspace_id,
                    lead_key=send.lead_id,
                    lead_id=send.lead_id,
                    send_id=send.id,
                    sequence_id=send.sequence_id,
                    step_id=send.step_id,
                    url=url,
                ),
                self.secret,
            )

        if config.track_clicks:
            html = track_links(html, lambda url: f"{tracking}/t/c/{link(url)}", keep={unsubscribe})
        if config.track_opens:
            html = add_open_pixel(html, f"{tracking}/t/o/{link(None)}")
        return html
