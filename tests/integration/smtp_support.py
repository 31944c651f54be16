"""A real SMTP server (aiosmtpd) for tests: records what it accepted, refuses on demand."""

from __future__ import annotations

import asyncio
import email
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope as SMTPEnvelope
from aiosmtpd.smtp import Session

from shared.net import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # when the server took it
    rcpt_at: float = 0.0  # time.monotonic() when the server accepted RCPT TO


@dataclass
class Recorder:
    """aiosmtpd handler: records accepted messages; refuses some recipients."""

    refuse: set[str] = field(default_factory=set)  # 550 at RCPT
    tempfail_once: set[str] = field(default_factory=set)  # 451 once at RCPT
    refuse_once: set[str] = field(default_factory=set)  # 550 at RCPT, once
    stall_once: set[str] = field(default_factory=set)  # no answer to RCPT for stall_seconds, once
    stall_seconds: float = 30.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _rcpt_at: dict[int, float] = field(default_factory=dict)

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: SMTPEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 <" + address + ">: no such user"
        with self.lock:
            if address in self.refuse_once:
                self.refuse_once.discard(address)
                return "550 5.1.1 <" + address + ">: no such user"
        if address in self.stall_once:
            self.stall_once.discard(address)
            await asyncio.sleep(self.stall_seconds)  # the client times out (or dies) meanwhile
        with self.lock:
            if address in self.tempfail_once:
                self.tempfail_once.discard(address)
                return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        self._rcpt_at[id(envelope)] = time.monotonic()
        return "250 OK"

    async def handle_DATA(
        self, server: SMTPServer, session: Session, envelope: SMTPEnvelope
    ) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            rcpt_at = self._rcpt_at.pop(id(envelope), 0.0)
            self.received.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), parsed, rcpt_at=rcpt_at)
            )
        return "250 2.0.0 queued"

    def to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.received if address in r.rcpt_tos]

    def received_by(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


@contextmanager
def running_smtp() -> Iterator[tuple[Recorder, int]]:
    """An aiosmtpd server on 127.0.0.1 and a free port, recording into a Recorder."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()
