"""Where the browser goes: after sign-in, and to sign in."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

HOME = "/leads"


def safe_next(target: str | None) -> str:
    r"""Only paths of this site after sign-in (no open redirect to another host).

    Browsers read a backslash as a slash (`/\evil.example` is `//evil.example`, another host)
    and drop tabs and newlines from URLs (`/<tab>/evil.example` too), so any backslash or
    control character is refused, not only a leading `//`; so is anything with a scheme."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return HOME
    if "\\" in target or any(c < " " or c == "\x7f" for c in target):
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return HOME
    return target


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(next_path, safe="")


def key_refused(status: int, message: str) -> str:
    """Why ingest did not take a key: refused, or could not check it."""
    if status in (401, 403):
        return "That key was not accepted: " + message
    return f"LeadFlow could not check the key ({status}): {message}"


def ingest_unreachable(url: str) -> str:
    return f"LeadFlow's ingest service does not answer at {url}; is it running?"
