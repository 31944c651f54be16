"""The one email builder: a marketing email composed straight to the bytes sent on the wire.

``compose(...)`` writes ``From: name <addr>``, ``To``, ``Subject``, ``Date``, a stable
``Message-ID`` (from the send row, so a message is always the same message),
``Reply-To`` when set, ``List-Unsubscribe`` with an http(s) and a mailto URI,
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), and a text body (or a
multipart/alternative: text, then HTML), quoted-printable (7-bit safe).

It is fast (no ``EmailMessage`` tree): headers whose value is plain printable ASCII are
written as they are (exactly what the ``email`` package writes for them); any other header
value (non-ASCII, ``=?``, an address that needs quoting, an over-long line) goes through the
``email`` package's own parsing and folding, and the bodies through its quoted-printable
encoder. The MIME boundary is ``=_`` + random hex, which quoted-printable text can never
contain. The unit tests check the bytes against what the ``email`` package itself writes.

Pure: no I/O (``adapters/mailer.py`` sends the result).
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from email import quoprimime
from email.headerregistry import Address
from email.utils import format_datetime

# Header folding is limited to RFC 5322's hard limit (998): a List-Unsubscribe URI is one
# long token that must not be folded or RFC 2047-encoded (that would break the link).
_WIRE_POLICY = email_policy.SMTP.clone(max_line_length=998)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


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
) -> Outgoing:
    """A marketing email as the bytes sent on the wire, with its envelope (see the module
    docstring for its headers). Header values pass through a one-line filter, so a subject
    (or name) carrying CR/LF can never add a header; ``unsubscribe_url`` must be http(s);
    addresses are validated by the ``email`` package."""
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
    data = b"".join(head) + _body(text, html)
    # The addresses as the envelope uses them.
    sender = Address(addr_spec=from_address).addr_spec
    return Outgoing(
        sender=sender, recipient=Address(addr_spec=to).addr_spec, message_id=mid, data=data
    )


def _body(text: str, html: str) -> bytes:
    """The MIME part(s) after the headers: text alone, or multipart/alternative."""
    plain_headers, plain_body = _text_part(text or " ", "plain")
    if not html:
        return b"".join([plain_headers, b"MIME-Version: 1.0\r\n\r\n", plain_body])
    html_headers, html_body = _text_part(html, "html")
    boundary = f"=_{secrets.token_hex(12)}".encode("ascii")
    return b"".join(
        [
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
