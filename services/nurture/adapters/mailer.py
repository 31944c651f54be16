"""The SMTP side of nurture: hand a composed email (``domain/message.py``) to the SMTP
server.

``Mailer`` keeps ONE SMTP connection open (aiosmtplib) and reuses it for every send; a broken
connection is dropped and a new one opened for the next send (a stale reused connection is
retried once at once, since nothing was transmitted yet). ``Mailer.send`` runs the SMTP
transaction step by step (``MAIL FROM``, ``RCPT TO``, then ``DATA``) and says what happened:

- ``accepted``: the server answered 250 to the end of DATA;
- ``transient``: a 4xx reply, a refused sender, a connection error or a timeout *before*
  DATA: nothing was delivered, try again later;
- ``permanent``: a 5xx reply to RCPT TO or to DATA: the recipient is refused (a bounce);
- ``unknown``: the connection broke or timed out *during* DATA: the server may or may not
  have accepted the message;
- ``aborted``: the ``before_data`` hook said no (the claim was lost): nothing was delivered.

Never twice: where the hook sits
--------------------------------
A send may reach the server only once, even when the worker is killed at any instant. The
delivery worker (``services.nurture.workers.delivery``) commits two markers on the send row:

1. ``status = 'sending'`` (with ``claimed_at`` and ``attempts + 1``) before any SMTP
   command for it: the row is claimed; no byte of the message has left yet;
2. ``last_error = 'in-data'`` (``IN_DATA``) in the ``before_data`` hook, which ``send``
   awaits after the server accepted ``RCPT TO`` and right before it issues ``DATA``.

Everything before DATA (connect, EHLO, MAIL FROM, RCPT TO) delivers nothing: a server only
delivers a message once it has received the whole of DATA. So after a crash:

- a row in ``sending`` *without* the in-data marker never reached DATA: it is put back to
  ``queued`` and sent once after the restart;
- a row *with* the marker may have been accepted: it is marked ``sent`` with the error
  "outcome unknown ..." and never sent again.

The one price is the short window between the marker's commit and the DATA command: a
worker killed exactly there loses that one email (at most once), which is the side we choose
over sending it twice. The same rule applies when the connection breaks during DATA
(``unknown``): treated as sent, never retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import aiosmtplib

from services.nurture.domain.message import Outgoing
from services.nurture.settings import NurtureSettings

log = logging.getLogger(__name__)

IN_DATA = "in-data"
"""The ``last_error`` marker committed right before DATA (see the module docstring)."""

OutcomeKind = Literal["accepted", "transient", "permanent", "unknown", "aborted"]
Stage = Literal["connect", "mail", "rcpt", "data", "done"]


@dataclass(frozen=True)
class Outcome:
    """What the SMTP server did with one message."""

    kind: OutcomeKind
    stage: Stage
    code: int | None = None
    detail: str = ""

    @property
    def reply(self) -> str:
        """The server's reply as one line, e.g. ``550 5.1.1 no such user``."""
        text = " ".join(self.detail.split())
        return f"{self.code} {text}".strip() if self.code is not None else text


BeforeData = Callable[[], Awaitable[bool]]


class Mailer:
    """One reused SMTP connection; ``send`` is serialized (one transaction at a time).

    For more throughput, use several ``Mailer`` instances (one connection each).
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
        local_hostname: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout
        self.local_hostname = local_hostname or "leadflow.localhost"
        self._smtp: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()
        self.connections_opened = 0

    @classmethod
    def from_settings(cls, settings: NurtureSettings) -> Mailer:
        password = settings.smtp_password
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password.get_secret_value() if password is not None else None,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )

    async def _connection(self) -> tuple[aiosmtplib.SMTP, bool]:
        """The open connection (and True), or a new one (and False)."""
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp, True
        self._drop()
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            start_tls=self.starttls,
            timeout=self.timeout,
            local_hostname=self.local_hostname,
        )
        await smtp.connect()
        self._smtp = smtp
        self.connections_opened += 1
        return smtp, False

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.close()
            except Exception:  # closing a broken transport: nothing left to do
                log.debug("closing an SMTP connection failed", exc_info=True)

    async def _reset(self, smtp: aiosmtplib.SMTP) -> None:
        """RSET after a refusal, so the connection can carry the next message."""
        try:
            await smtp.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            self._drop()

    async def close(self) -> None:
        """QUIT and close (for shutdown)."""
        async with self._lock:
            smtp = self._smtp
            if smtp is not None and smtp.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                    await smtp.quit()
            self._drop()

    async def send(
        self,
        message: Outgoing,
        *,
        before_data: BeforeData | None = None,
    ) -> Outcome:
        """Run one SMTP transaction for ``message`` (its envelope: sender and recipient).

        ``before_data`` is awaited after RCPT TO was accepted and before DATA is issued;
        returning False aborts (RSET, nothing delivered). If it raises, the transaction is
        reset and the exception propagates.
        """
        sender, recipient, data = message.sender, message.recipient, message.data
        async with self._lock:
            return await self._send(sender, recipient, data, before_data)

    async def _send(
        self, sender: str, recipient: str, data: bytes, before_data: BeforeData | None
    ) -> Outcome:
        opened = await self._mail(sender, len(data))
        if isinstance(opened, Outcome):
            return opened
        smtp = opened
        refused = await self._rcpt(smtp, recipient)
        if refused is not None:
            return refused
        if before_data is not None:
            try:
                go_on = await before_data()
            except BaseException:
                await self._reset(smtp)
                raise
            if not go_on:
                await self._reset(smtp)
                return Outcome("aborted", "rcpt", None, "the claim on this send was lost")
        return await self._data(smtp, data)

    async def _mail(self, sender: str, size: int) -> aiosmtplib.SMTP | Outcome:
        """A connection with MAIL FROM accepted, or the transient outcome of why not."""
        for attempt in range(2):
            try:
                smtp, reused = await self._connection()
            except aiosmtplib.SMTPResponseException as exc:
                self._drop()
                return Outcome("transient", "connect", exc.code, exc.message)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                self._drop()
                return Outcome("transient", "connect", None, _describe(exc))
            try:
                options = [f"SIZE={size}"] if smtp.supports_extension("size") else []
                await smtp.mail(sender, options=options)
                return smtp
            except aiosmtplib.SMTPResponseException as exc:
                # A refused sender is our configuration's problem, not the recipient's.
                await self._after_refusal(smtp, exc.code)
                return Outcome("transient", "mail", exc.code, exc.message)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                self._drop()
                if reused and attempt == 0:
                    continue  # a stale kept-alive connection: once more on a fresh one
                return Outcome("transient", "mail", None, _describe(exc))
        raise AssertionError("unreachable: the second attempt always returns")

    async def _rcpt(self, smtp: aiosmtplib.SMTP, recipient: str) -> Outcome | None:
        """None when RCPT TO was accepted, else the outcome."""
        try:
            await smtp.rcpt(recipient)
        except aiosmtplib.SMTPResponseException as exc:
            await self._after_refusal(smtp, exc.code)
            kind: OutcomeKind = "permanent" if 500 <= exc.code < 600 else "transient"
            return Outcome(kind, "rcpt", exc.code, exc.message)
        except ValueError as exc:  # an address that cannot be written on the wire
            await self._reset(smtp)
            return Outcome("permanent", "rcpt", None, f"invalid recipient address: {exc}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            self._drop()
            return Outcome("transient", "rcpt", None, _describe(exc))
        return None

    async def _data(self, smtp: aiosmtplib.SMTP, data: bytes) -> Outcome:
        try:
            response = await smtp.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            await self._after_refusal(smtp, exc.code)
            kind: OutcomeKind = "permanent" if 500 <= exc.code < 600 else "transient"
            return Outcome(kind, "data", exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            self._drop()
            return Outcome("unknown", "data", None, _describe(exc))
        return Outcome("accepted", "done", response.code, response.message)

    async def _after_refusal(self, smtp: aiosmtplib.SMTP, code: int) -> None:
        """421: the server is closing the connection; else RSET for the next message."""
        if code == 421:
            self._drop()
        else:
            await self._reset(smtp)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
