"""The SMTP side of nurture: compose a marketing email, hand it to the SMTP server.

``compose(...)`` builds the MIME message: ``From: name <addr>``, ``To``, ``Subject``,
``Date``, a stable ``Message-ID`` (from the send row, so a message is always the same
message), ``List-Unsubscribe`` with an http(s) and a mailto URI,
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), ``Reply-To`` when set, and
a multipart/alternative body (text, then HTML), quoted-printable (7-bit safe).

``compose_wire(...)`` takes the same arguments and returns the same message already as the
bytes sent on the wire (``Outgoing``), ~10x cheaper: headers whose value is plain printable
ASCII are written as they are (exactly what the ``email`` package writes for them), any other
header value (non-ASCII, ``=?``, an address that needs quoting, an over-long line) goes
through the ``email`` package's own parsing and folding, and the bodies through its
quoted-printable encoder. Only the MIME boundary differs (``=_`` + random hex, which
quoted-printable text can never contain). The unit tests check that both give the same
bytes.

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
delivery worker (``services.nurture.delivery``) commits two markers on the send row:

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
import copy as copy_module
import functools
import io
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from email import quoprimime
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal

import aiosmtplib

from services.nurture.settings import NurtureSettings

log = logging.getLogger(__name__)

IN_DATA = "in-data"
"""The ``last_error`` marker committed right before DATA (see the module docstring)."""

OutcomeKind = Literal["accepted", "transient", "permanent", "unknown", "aborted"]
Stage = Literal["connect", "mail", "rcpt", "data", "done"]

# Header folding is limited to RFC 5322's hard limit (998): a List-Unsubscribe URI is one
# long token that must not be folded or RFC 2047-encoded (that would break the link).
_WIRE_POLICY = email_policy.SMTP.clone(max_line_length=998)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


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


def _one_line(value: str) -> str:
    """A header-safe value: CR, LF and other control characters become spaces."""
    return " ".join(_CONTROL.sub(" ", value).split())


def normalize_message_id(message_id: str) -> str:
    """``<id@host>`` from ``id@host``, ``<id@host>`` or a bare ``id`` (``<id@leadflow>``)."""
    core = _one_line(message_id).strip().strip("<>").replace(" ", "")
    if not core:
        raise ValueError("an empty Message-ID")
    if "@" not in core:
        core = f"{core}@leadflow"
    return f"<{core}>"


def unsubscribe_mailto(from_address: str, token: str) -> str:
    """``mailto:unsubscribe@<sender's domain>?subject=unsubscribe-<token>``."""
    domain = from_address.rpartition("@")[2] or "leadflow.example"
    return f"mailto:unsubscribe@{domain}?subject=unsubscribe-{token}"


def compose(
    *,
    message_id: str,
    from_address: str,
    from_name: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    unsubscribe_url: str,
    unsubscribe_token: str,
    date: datetime,
    reply_to: str | None = None,
) -> EmailMessage:
    """A marketing email ready for ``Mailer.send`` (see the module docstring for headers).

    Header values pass through a one-line filter, so a subject (or name) carrying CR/LF can
    never add a header. ``unsubscribe_url`` must be http(s).
    """
    if not unsubscribe_url.lower().startswith(("https://", "http://")):
        raise ValueError(f"the unsubscribe URL must be http(s), not {unsubscribe_url!r}")
    message = EmailMessage(policy=email_policy.SMTP)
    message["From"] = Address(display_name=_one_line(from_name), addr_spec=from_address)
    message["To"] = Address(addr_spec=_one_line(to))
    message["Subject"] = _one_line(subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = normalize_message_id(message_id)
    if reply_to:
        message["Reply-To"] = Address(addr_spec=_one_line(reply_to))
    mailto = unsubscribe_mailto(from_address, _one_line(unsubscribe_token))
    message["List-Unsubscribe"] = f"<{_one_line(unsubscribe_url)}>, <{mailto}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text or " ", subtype="plain", cte="quoted-printable")
    if html:
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message


@dataclass(frozen=True)
class Outgoing:
    """A composed message as sent on the wire, with its envelope (see ``compose_wire``)."""

    sender: str
    recipient: str
    message_id: str
    data: bytes


# A header value written as is: printable ASCII, no encoded-word opener, no leading or
# trailing space (``_one_line`` already collapsed whitespace). Anything else is folded by
# the email package.
_PLAIN_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
# A bare addr_spec the email package writes unchanged (dot-atom local part and domain).
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)


def _folded(name: str, value: str) -> bytes:
    """``Name: value`` as the email package writes it on the wire (parsed, encoded, folded)."""
    stored_name, stored = email_policy.SMTP.header_store_parse(name, value)
    return _WIRE_POLICY.fold_binary(stored_name, stored)


def _header(name: str, value: str) -> bytes:
    if "=?" not in value and len(name) + 2 + len(value) <= 998 and _PLAIN_VALUE.fullmatch(value):
        return f"{name}: {value}\r\n".encode("ascii")
    return _folded(name, value)


@functools.lru_cache(maxsize=256)
def _address_header(name: str, display_name: str, addr_spec: str) -> bytes:
    """An address header (From, Reply-To): few distinct values, so rendered once each."""
    return _folded(name, str(Address(display_name=display_name, addr_spec=addr_spec)))


def _to_header(to: str) -> bytes:
    address = Address(addr_spec=to)  # validates (ValueError "Invalid addr_spec ...")
    if address.addr_spec == to and len(to) < 990 and _PLAIN_ADDRESS.fullmatch(to):
        return f"To: {to}\r\n".encode("ascii")
    return _folded("To", str(address))


def _text_part(text: str, subtype: str) -> tuple[bytes, bytes]:
    """Content headers and quoted-printable body of a text part, as ``set_content`` makes
    them (utf-8, the email package's encoder, line length 78) with CRLF line ends."""
    lines = text.encode("utf-8").splitlines()
    body = quoprimime.body_encode((b"\n".join(lines) + b"\n").decode("latin-1"), 78)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n"
    ).encode("ascii"), body.replace("\n", "\r\n").encode("ascii")


def compose_wire(
    *,
    message_id: str,
    from_address: str,
    from_name: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    unsubscribe_url: str,
    unsubscribe_token: str,
    date: datetime,
    reply_to: str | None = None,
) -> Outgoing:
    """``to_bytes(compose(...))`` with its envelope, built directly (see the module
    docstring); the same checks: a one-line filter on header values, http(s) unsubscribe
    URL, valid addresses."""
    if not unsubscribe_url.lower().startswith(("https://", "http://")):
        raise ValueError(f"the unsubscribe URL must be http(s), not {unsubscribe_url!r}")
    to = _one_line(to)
    mid = normalize_message_id(message_id)
    mailto = unsubscribe_mailto(from_address, _one_line(unsubscribe_token))
    head = [
        _address_header("From", _one_line(from_name), from_address),
        _to_header(to),
        _header("Subject", _one_line(subject)),
        _header("Date", format_datetime(date)),
        _header("Message-ID", mid),
    ]
    if reply_to:
        head.append(_address_header("Reply-To", "", _one_line(reply_to)))
    head += [
        _header("List-Unsubscribe", f"<{_one_line(unsubscribe_url)}>, <{mailto}>"),
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
    ]
    plain_headers, plain_body = _text_part(text or " ", "plain")
    if not html:
        data = b"".join([*head, plain_headers, b"MIME-Version: 1.0\r\n\r\n", plain_body])
    else:
        html_headers, html_body = _text_part(html, "html")
        boundary = f"=_{secrets.token_hex(12)}".encode("ascii")
        data = b"".join(
            [
                *head,
                b"MIME-Version: 1.0\r\n",
                b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n',
                b"\r\n--" + boundary + b"\r\n",
                plain_headers,
                b"\r\n",
                plain_body,
                b"\r\n--" + boundary + b"\r\n",
                html_headers,
                b"MIME-Version: 1.0\r\n\r\n",
                html_body,
                b"\r\n--" + boundary + b"--\r\n",
            ]
        )
    # The addresses as the envelope uses them (what _addr_spec reads from a composed one).
    sender = Address(addr_spec=from_address).addr_spec
    return Outgoing(
        sender=sender, recipient=Address(addr_spec=to).addr_spec, message_id=mid, data=data
    )


def to_bytes(message: EmailMessage) -> bytes:
    """The message as sent on the wire (CRLF line ends, no Bcc, long tokens unfolded)."""
    copy = copy_module.copy(message)  # shallow; __delitem__ builds a new header list
    del copy["Bcc"]
    del copy["Resent-Bcc"]
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=_WIRE_POLICY).flatten(copy)
    return buffer.getvalue()


def _addr_spec(message: EmailMessage, header: str) -> str:
    value = message[header]
    addresses = getattr(value, "addresses", ())
    if not addresses:
        raise ValueError(f"the message has no {header} address")
    return str(addresses[0].addr_spec)


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
        message: EmailMessage | Outgoing,
        *,
        before_data: BeforeData | None = None,
    ) -> Outcome:
        """Run one SMTP transaction for ``message`` (envelope from its From and To).

        ``before_data`` is awaited after RCPT TO was accepted and before DATA is issued;
        returning False aborts (RSET, nothing delivered). If it raises, the transaction is
        reset and the exception propagates.
        """
        if isinstance(message, Outgoing):
            sender, recipient, data = message.sender, message.recipient, message.data
        else:
            sender = _addr_spec(message, "From")
            recipient = _addr_spec(message, "To")
            data = to_bytes(message)
        async with self._lock:
            return await self._send(sender, recipient, data, before_data)

    async def _send(
        self, sender: str, recipient: str, data: bytes, before_data: BeforeData | None
    ) -> Outcome:
        smtp: aiosmtplib.SMTP | None = None
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
                options = [f"SIZE={len(data)}"] if smtp.supports_extension("size") else []
                await smtp.mail(sender, options=options)
                break
            except aiosmtplib.SMTPResponseException as exc:
                # A refused sender is our configuration's problem, not the recipient's.
                if exc.code == 421:
                    self._drop()
                else:
                    await self._reset(smtp)
                return Outcome("transient", "mail", exc.code, exc.message)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                self._drop()
                if reused and attempt == 0:
                    continue  # a stale kept-alive connection: once more on a fresh one
                return Outcome("transient", "mail", None, _describe(exc))
        assert smtp is not None

        try:
            await smtp.rcpt(recipient)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421:
                self._drop()
            else:
                await self._reset(smtp)
            kind: OutcomeKind = "permanent" if 500 <= exc.code < 600 else "transient"
            return Outcome(kind, "rcpt", exc.code, exc.message)
        except ValueError as exc:  # an address that cannot be written on the wire
            await self._reset(smtp)
            return Outcome("permanent", "rcpt", None, f"invalid recipient address: {exc}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            self._drop()
            return Outcome("transient", "rcpt", None, _describe(exc))

        if before_data is not None:
            try:
                go_on = await before_data()
            except BaseException:
                await self._reset(smtp)
                raise
            if not go_on:
                await self._reset(smtp)
                return Outcome("aborted", "rcpt", None, "the claim on this send was lost")

        try:
            response = await smtp.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421:
                self._drop()
            else:
                await self._reset(smtp)
            kind = "permanent" if 500 <= exc.code < 600 else "transient"
            return Outcome(kind, "data", exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            self._drop()
            return Outcome("unknown", "data", None, _describe(exc))
        return Outcome("accepted", "done", response.code, response.message)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
