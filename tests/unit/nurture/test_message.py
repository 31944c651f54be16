"""The email nurture sends (domain/message.py): headers, body parts, no header injection,
and the same bytes as the ``email`` package itself writes."""

from __future__ import annotations

import email
import io
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import pytest

from services.nurture.domain.delivery import backoff
from services.nurture.domain.events import event_id
from services.nurture.domain.message import (
    Outgoing,
    _one_line,
    compose,
    normalize_message_id,
    unsubscribe_mailto,
)
from services.nurture.domain.unsubscribe import read_token, unsubscribe_token, unsubscribe_url

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
SECRET = "unit-test-secret"


def message(**overrides: Any) -> Outgoing:
    token = unsubscribe_token(
        SECRET, workspace_id="ws_1", lead_id="ld_1", email="ada@acme.example", send_id="snd_1"
    )
    fields: dict[str, Any] = {
        "message_id": "snd_1@leadflow",
        "from_address": "news@leadflow.example",
        "from_name": "LeadFlow, Inc.",
        "to": "ada@acme.example",
        "subject": "Welcome, Ada",
        "text": "Hello Ada\n",
        "html": "<p>Hello <b>Ada</b></p>",
        "unsubscribe_url": f"https://nurture.example/u/{token}",
        "unsubscribe_token": token,
        "date": NOW,
        "reply_to": "sales@leadflow.example",
    }
    fields.update(overrides)
    return compose(**fields)


def parsed(msg: Outgoing) -> EmailMessage:
    """What a receiving server reads off the wire."""
    result = email.message_from_bytes(msg.data, policy=policy.default)
    assert isinstance(result, EmailMessage)
    return result


def test_headers_of_a_marketing_email() -> None:
    wire = parsed(message())
    assert wire["From"] == '"LeadFlow, Inc." <news@leadflow.example>'
    assert wire["To"] == "ada@acme.example"
    assert wire["Subject"] == "Welcome, Ada"
    assert wire["Reply-To"] == "sales@leadflow.example"
    assert wire["Message-ID"] == "<snd_1@leadflow>"
    assert email.utils.parsedate_to_datetime(wire["Date"]) == NOW
    assert wire["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_list_unsubscribe_has_an_https_and_a_mailto_uri_unbroken_on_the_wire() -> None:
    msg = message()
    raw = msg.data.decode("ascii")
    line = next(x for x in raw.split("\r\n") if x.startswith("List-Unsubscribe:"))
    assert "=?" not in line, "a URI must never be RFC 2047-encoded"
    uris = [u.strip().strip("<>") for u in line.split(":", 1)[1].split(",")]
    https, mailto = uris
    assert https.startswith("https://nurture.example/u/")
    token = https.rsplit("/", 1)[1]
    link = read_token(token, SECRET)
    assert link is not None
    assert link.email == "ada@acme.example"
    assert link.send_id == "snd_1"
    assert mailto == f"mailto:unsubscribe@leadflow.example?subject=unsubscribe-{token}"
    assert all(len(x) <= 998 for x in raw.split("\r\n"))


def test_message_id_is_stable_whatever_the_moment_or_body() -> None:
    first = message(date=NOW, text="one")
    second = message(date=NOW + timedelta(hours=5), text="two")
    assert parsed(first)["Message-ID"] == parsed(second)["Message-ID"] == "<snd_1@leadflow>"
    assert first.message_id == second.message_id == "<snd_1@leadflow>"
    assert normalize_message_id("abc") == "<abc@leadflow>"
    assert normalize_message_id("<abc@x.example>") == "<abc@x.example>"
    with pytest.raises(ValueError, match="empty Message-ID"):
        normalize_message_id(" <> ")


def test_multipart_alternative_text_then_html() -> None:
    wire = parsed(message(subject="Grüße 🎉", text="Grüße, Ada\n", html="<p>Grüße</p>"))
    assert wire.get_content_type() == "multipart/alternative"
    parts = list(wire.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p["Content-Transfer-Encoding"] == "quoted-printable" for p in parts)
    assert parts[0].get_content().replace("\r\n", "\n") == "Grüße, Ada\n"
    assert "<p>Grüße</p>" in parts[1].get_content()
    assert wire["Subject"] == "Grüße 🎉"
    message().data.decode("ascii")  # 7-bit clean on the wire


def test_a_text_only_template_is_a_single_part() -> None:
    wire = parsed(message(html=""))
    assert wire.get_content_type() == "text/plain"


@pytest.mark.parametrize(
    "subject",
    [
        "Hello\r\nBcc: victim@evil.example",
        "Hello\nBcc: victim@evil.example",
        "Hello\rBcc: victim@evil.example",
        "Hello\r\n\r\n<html>body</html>",
        "Hello\u2028Bcc: victim@evil.example",
    ],
)
def test_no_header_injection_from_a_subject(subject: str) -> None:
    msg = message(subject=subject)
    wire = parsed(msg)
    assert wire["Bcc"] is None
    assert "\n" not in wire["Subject"]
    assert "\r" not in wire["Subject"]
    assert wire["Subject"].startswith("Hello ")
    raw = msg.data
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in headers


def test_no_header_injection_from_a_name_or_address() -> None:
    wire = parsed(message(from_name="Evil\r\nBcc: victim@evil.example"))
    assert wire["Bcc"] is None
    with pytest.raises(ValueError, match="Invalid addr_spec"):
        message(to="ada@acme.example\r\nBcc: victim@evil.example")


def test_the_unsubscribe_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="must be http"):
        message(unsubscribe_url="javascript:alert(1)")
    assert (
        unsubscribe_mailto("a@b.example", "T")
        == "mailto:unsubscribe@b.example?subject=unsubscribe-T"
    )


def test_unsubscribe_tokens_are_signed() -> None:
    url = unsubscribe_url(
        "https://n.example/",
        SECRET,
        workspace_id="w",
        lead_id="l",
        email="e@x.example",
        send_id="s",
    )
    assert url.startswith("https://n.example/u/")
    token = url.rsplit("/", 1)[1]
    assert read_token(token, SECRET) is not None
    assert read_token(token, "another-secret") is None
    assert read_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), SECRET) is None


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
    ]
    assert backoff(30) == timedelta(hours=1)


def test_event_ids_are_derived_from_the_send() -> None:
    assert event_id("email.sent", "s1") == event_id("email.sent", "s1")
    assert event_id("email.sent", "s1") != event_id("email.bounced", "s1")


def _same_boundary(data: bytes) -> bytes:
    found = re.search(rb'boundary="([^"]+)"', data)
    return data.replace(found.group(1), b"BOUNDARY") if found else data


def _email_package_bytes(
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
) -> bytes:
    """The oracle: the same email built as an ``EmailMessage`` tree and flattened by the
    ``email`` package itself (what ``compose`` must write, byte for byte)."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = Address(display_name=_one_line(from_name), addr_spec=from_address)
    msg["To"] = Address(addr_spec=_one_line(to))
    msg["Subject"] = _one_line(subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = normalize_message_id(message_id)
    if reply_to:
        msg["Reply-To"] = Address(addr_spec=_one_line(reply_to))
    mailto = unsubscribe_mailto(from_address, _one_line(unsubscribe_token))
    msg["List-Unsubscribe"] = f"<{_one_line(unsubscribe_url)}>, <{mailto}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text or " ", subtype="plain", cte="quoted-printable")
    if html:
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=policy.SMTP.clone(max_line_length=998)).flatten(msg)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"html": ""},
        {"reply_to": None, "from_name": "LeadFlow"},
        {"subject": "Grüße 🎉", "text": "Grüße, Ada\n", "html": "<p>Grüße</p>"},
        {"subject": "x" * 1200, "text": "a" * 300 + "\r\n.dot\nFrom me\n trailing  \n\t"},
        {"subject": "Hello =?utf-8?q?SGk=?= there", "html": "<p>" + "é" * 200 + "</p>"},
        {"subject": "Hello\r\nBcc: victim@evil.example", "from_name": "Evil\r\nBcc: v@e.example"},
        {"subject": "  spaced\tout  ", "text": "", "from_name": "Zoë Ünicode"},
        {"to": '"odd local"@acme.example', "message_id": "<abc@x.example>"},
        {"unsubscribe_url": "https://nurture.example/u/" + "T" * 1100, "unsubscribe_token": "T"},
    ],
)
def test_compose_writes_the_same_bytes_as_the_email_package(overrides: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        "message_id": "snd_1@leadflow",
        "from_address": "news@leadflow.example",
        "from_name": "LeadFlow, Inc.",
        "to": "ada@acme.example",
        "subject": "Welcome, Ada",
        "text": "Hello Ada\n",
        "html": "<p>Hello <b>Ada</b></p>",
        "unsubscribe_url": "https://nurture.example/u/TOKEN",
        "unsubscribe_token": "TOKEN",
        "date": NOW,
        "reply_to": "sales@leadflow.example",
    }
    fields.update(overrides)
    wire = compose(**fields)
    reference = _email_package_bytes(**fields)
    assert _same_boundary(wire.data) == _same_boundary(reference)
    received = email.message_from_bytes(reference, policy=policy.default)
    assert wire.sender == "news@leadflow.example"
    assert wire.recipient == str(received["To"].addresses[0].addr_spec)
    assert wire.message_id == received["Message-ID"]
    wire.data.decode("ascii")


def test_compose_refuses_bad_input() -> None:
    fields: dict[str, Any] = {
        "message_id": "snd_1@leadflow",
        "from_address": "news@leadflow.example",
        "from_name": "LeadFlow",
        "to": "ada@acme.example",
        "subject": "s",
        "text": "t",
        "html": "",
        "unsubscribe_url": "https://n.example/u/T",
        "unsubscribe_token": "T",
        "date": NOW,
    }
    with pytest.raises(ValueError, match="Invalid addr_spec"):
        compose(**{**fields, "to": "ada@acme.example\r\nBcc: victim@evil.example"})
    with pytest.raises(ValueError, match="must be http"):
        compose(**{**fields, "unsubscribe_url": "javascript:alert(1)"})
    with pytest.raises(ValueError, match="empty Message-ID"):
        compose(**{**fields, "message_id": " <> "})
    headers = compose(**{**fields, "subject": "Hi\r\nBcc: v@e.example"}).data.split(b"\r\n\r\n", 1)[
        0
    ]
    assert b"\r\nBcc:" not in headers
