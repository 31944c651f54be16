"""A local mailbox for `make run`: an SMTP server (aiosmtpd) that keeps every message it
accepts as an .eml file, and a small web page listing them. Nothing leaves the machine.

`leadflow mailbox` runs it; nurture's default SMTP settings (127.0.0.1:2525) point at it.
"""

from __future__ import annotations

import email
import html
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, PlainTextResponse

_SAFE = re.compile(r"[^A-Za-z0-9_.@-]+")


class Keeper:
    """aiosmtpd handler: every accepted message becomes `<time>-<recipient>.eml`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
        to = _SAFE.sub("_", ",".join(envelope.rcpt_tos))[:80]
        (self.folder / f"{stamp}-{to}.eml").write_bytes(envelope.original_content or b"")
        return "250 2.0.0 kept in the local mailbox"


def _read(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def page(folder: Path) -> FastAPI:
    app = FastAPI(title="LeadFlow local mailbox", docs_url=None, redoc_url=None)

    @app.get("/", response_class=HTMLResponse)
    def listing() -> str:
        rows = []
        for path in sorted(folder.glob("*.eml"), reverse=True)[:500]:
            m = _read(path)
            cells = [m.get("Date", ""), m.get("To", ""), m.get("Subject", "")]
            link = f'<a href="/m/{html.escape(path.name)}">{html.escape(str(cells[2]))}</a>'
            rows.append(
                f"<tr><td>{html.escape(str(cells[0]))}</td>"
                f"<td>{html.escape(str(cells[1]))}</td><td>{link}</td></tr>"
            )
        body = "".join(rows) or '<tr><td colspan="3">No mail yet.</td></tr>'
        return (
            "<!doctype html><html lang='en'><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>Local mailbox</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:2rem}"
            "td,th{padding:.3rem .8rem;text-align:left;border-bottom:1px solid #ddd}</style>"
            f"<h1>Local mailbox</h1><p>{len(rows)} message(s) in {html.escape(str(folder))}</p>"
            f"<table><tr><th>Date</th><th>To</th><th>Subject</th></tr>{body}</table></html>"
        )

    @app.get("/m/{name}", response_class=HTMLResponse)
    def message(name: str) -> str:
        path = folder / name
        if "/" in name or not path.is_file():
            raise HTTPException(404, "no such message")
        m = _read(path)
        part = m.get_body(("html", "plain"))
        content = part.get_content() if part is not None else ""
        shown = (
            content
            if part is not None and part.get_content_type() == "text/html"
            else (f"<pre>{html.escape(content)}</pre>")
        )
        head = "".join(
            f"<div><b>{k}:</b> {html.escape(str(m.get(k, '')))}</div>"
            for k in ("From", "To", "Subject", "Date", "List-Unsubscribe")
        )
        title = html.escape(str(m.get("Subject", "")))
        return (
            f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{title}</title>"
            f"<p><a href='/'>all mail</a> · <a href='/raw/{html.escape(name)}'>raw .eml</a></p>"
            f"{head}<hr>{shown}</html>"
        )

    @app.get("/raw/{name}", response_class=PlainTextResponse)
    def raw(name: str) -> str:
        path = folder / name
        if "/" in name or not path.is_file():
            raise HTTPException(404, "no such message")
        return path.read_text(errors="replace")

    return app


def run(folder: Path, *, smtp_port: int, http_port: int, host: str = "127.0.0.1") -> None:
    controller = Controller(Keeper(folder), hostname=host, port=smtp_port)
    controller.start()
    try:
        config: Any = uvicorn.Config(page(folder), host=host, port=http_port, log_level="warning")
        uvicorn.Server(config).run()
    finally:
        controller.stop()
