"""Unsubscribe links: signed tokens, a confirmation page, RFC 8058 one-click.

Recipients use these without any key: the signed token is the authority.

- ``GET /u/{token}`` shows a small confirmation page with a button, and changes nothing (mail
  providers' link scanners fetch every link of a message; they must not unsubscribe anyone).
- ``POST /u/{token}`` unsubscribes: the one-click POST of RFC 8058 (a mail client sends the
  body ``List-Unsubscribe=One-Click``) and the page's form both land here. The address goes on
  the workspace's suppression list (reason ``unsubscribed``) and ``email.unsubscribed`` is
  published through the outbox, in one transaction. Doing it again changes nothing.
- A token that does not verify (tampered, or signed with another secret) is a 404 page.

The token itself: domain/unsubscribe.py.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from services.nurture.domain.unsubscribe import mask, read_token
from services.nurture.store.suppressions import get_suppression, unsubscribe
from shared.db import UnitOfWork

_HEADERS = {
    "Cache-Control": "no-store, private",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
}


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
            found = await get_suppression(uow.session, link.workspace_id, link.email)
        reason = found.reason if found else None
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
