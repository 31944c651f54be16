"""Unsubscribe links: signed tokens, a confirmation page, RFC 8058 one-click.

Recipients use these without any key: the signed token is the authority.

- ``GET /u/{token}`` shows a small confirmation page with a button, and changes nothing (mail
  providers' link scanners fetch every link of a message; they must not unsubscribe anyone).
- ``POST /u/{token}`` unsubscribes: the one-click POST of RFC 8058 (a mail client sends the
  body ``List-Unsubscribe=One-Click``) and the page's form both land here. The address goes on
  the workspace's suppression list (reason ``unsubscribed``) and ``email.unsubscribed`` is
  published through the outbox, in one transaction. Doing it again changes nothing.
- A token that does not verify (tampered, or signed with another secret) is a 404 page.

The token is an itsdangerous ``URLSafeSerializer`` over ``[workspace_id, lead_id, email,
send_id]`` with the service secret and its own salt (``SALT``), so it cannot be forged and
cannot be confused with an open or click token.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.nurture import models
from shared.db import UnitOfWork, audit
from shared.events import Envelope, utcnow

SALT = "leadflow.nurture.unsubscribe.v1"
_EVENT_IDS = uuid.UUID("6b0f3c2a-9d4e-4a71-8e25-3f1c7a9b5d60")
_HEADERS = {
    "Cache-Control": "no-store, private",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class UnsubscribeToken:
    workspace_id: str
    lead_id: str
    email: str
    send_id: str


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT)


def unsubscribe_token(
    secret: str, *, workspace_id: str, lead_id: str, email: str, send_id: str
) -> str:
    return str(_serializer(secret).dumps([workspace_id, lead_id, email, send_id]))


def unsubscribe_url(
    public_url: str, secret: str, *, workspace_id: str, lead_id: str, email: str, send_id: str
) -> str:
    """``{public_url}/u/{token}``: where the email's unsubscribe link and header point."""
    token = unsubscribe_token(
        secret, workspace_id=workspace_id, lead_id=lead_id, email=email, send_id=send_id
    )
    return f"{public_url.rstrip('/')}/u/{token}"


def read_token(token: str, secret: str) -> UnsubscribeToken | None:
    """The token's fields, or None when it does not verify."""
    try:
        fields = _serializer(secret).loads(token)
    except BadSignature:
        return None
    if (
        not isinstance(fields, list)
        or len(fields) != 4
        or not all(isinstance(f, str) and f for f in fields)
    ):
        return None
    return UnsubscribeToken(*fields)


def unsubscribed_event_id(workspace_id: str, email: str) -> uuid.UUID:
    return uuid.uuid5(_EVENT_IDS, f"email.unsubscribed:{workspace_id}:{email.lower()}")


async def unsubscribe(
    uow: UnitOfWork, link: UnsubscribeToken, *, topic: str, detail: str = ""
) -> bool:
    """Suppress the address and publish ``email.unsubscribed``, within ``uow``'s transaction.

    True when it was newly suppressed; False when the address was already on the list (for
    any reason): nothing is changed or published again.
    """
    email = link.email.strip().lower()
    inserted = await uow.session.scalar(
        pg_insert(models.suppressions)
        .values(
            workspace_id=link.workspace_id,
            email=email,
            reason="unsubscribed",
            detail=detail or f"unsubscribe link of send {link.send_id}",
        )
        .on_conflict_do_nothing()
        .returning(models.suppressions.c.email)
    )
    if inserted is None:
        return False
    await audit.record(
        uow.session,
        models.audit_log,
        link.workspace_id,
        "consent.unsubscribed",
        "recipient",
        lead_id=link.lead_id,
        send_id=link.send_id,
    )
    sends = models.sends
    send = (
        await uow.session.execute(
            select(
                sends.c.sequence_id,
                sends.c.version,
                sends.c.step_id,
                sends.c.variant_id,
            ).where(sends.c.id == link.send_id, sends.c.workspace_id == link.workspace_id)
        )
    ).first()
    payload: dict[str, object] = {
        "lead_id": link.lead_id,
        "send_id": link.send_id,
        "sequence_id": send.sequence_id if send else None,
        "step_id": send.step_id if send else None,
        "version": send.version if send else None,
        "variant_id": send.variant_id if send else None,
        "email": email,
    }
    await uow.emit(
        topic,
        Envelope(
            id=unsubscribed_event_id(link.workspace_id, email),
            type="email.unsubscribed",
            workspace_id=link.workspace_id,
            lead_key=link.lead_id,
            occurred_at=utcnow(),
            payload=payload,
        ),
    )
    return True


# --- pages ------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f6f7f9;"
    "color:#1f2328;margin:0;padding:48px 16px}"
    "main{max-width:460px;margin:0 auto;background:#fff;border-radius:8px;padding:32px;"
    "box-shadow:0 1px 3px rgba(0,0,0,.1)}"
    "h1{font-size:1.3rem;margin:0 0 12px}p{line-height:1.5}"
    "button{font:inherit;background:#1f6feb;color:#fff;border:0;border-radius:6px;"
    "padding:10px 18px;cursor:pointer}"
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex,nofollow">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=_HEADERS)


def mask(email: str) -> str:
    """``a***@example.com``: enough for the owner to recognise, little for anyone else."""
    local, at, domain = email.partition("@")
    if not at:
        return "your address"
    return f"{local[:1]}***@{domain}"


def _not_found() -> HTMLResponse:
    return _page(
        "Link not recognised",
        "<p>This unsubscribe link is not valid. Please use the link from the email you "
        "received.</p>",
        status=404,
    )


def unsubscribe_router(
    *, uow_factory: Callable[[], UnitOfWork], secret: str, topic: str
) -> APIRouter:
    """``GET`` and ``POST /u/{token}``; ``topic`` is the email-events topic."""
    router = APIRouter(tags=["unsubscribe"])

    @router.get("/u/{token}", response_class=HTMLResponse, summary="Unsubscribe: confirm")
    async def confirm(token: str) -> HTMLResponse:
        link = read_token(token, secret)
        if link is None:
            return _not_found()
        async with uow_factory() as uow:
            reason = await uow.session.scalar(
                select(models.suppressions.c.reason).where(
                    models.suppressions.c.workspace_id == link.workspace_id,
                    models.suppressions.c.email == link.email.strip().lower(),
                )
            )
        who = html.escape(mask(link.email))
        if reason == "unsubscribed":
            return _page(
                "You are unsubscribed", f"<p>{who} will receive no more of these emails.</p>"
            )
        action = html.escape(f"/u/{token}", quote=True)
        return _page(
            "Unsubscribe?",
            f"<p>Stop sending marketing emails to {who}?</p>"
            f'<form method="post" action="{action}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            '<button type="submit">Unsubscribe</button></form>',
        )

    @router.post("/u/{token}", response_class=HTMLResponse, summary="Unsubscribe (RFC 8058)")
    async def one_click(token: str) -> HTMLResponse:
        # Any POST with a valid token unsubscribes: RFC 8058's body is
        # `List-Unsubscribe=One-Click` (urlencoded or multipart), the page's form sends the
        # same; the token, not the body, is what proves the request is legitimate.
        link = read_token(token, secret)
        if link is None:
            return _not_found()
        async with uow_factory() as uow:
            await unsubscribe(uow, link, topic=topic)
        who = html.escape(mask(link.email))
        return _page("You are unsubscribed", f"<p>{who} will receive no more of these emails.</p>")

    return router
