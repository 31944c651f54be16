"""HTML helpers for tracked emails: click-tracked links, the open pixel, a text fallback.

Pure string functions (no I/O). ``track_links`` and ``add_open_pixel`` change only what they
must: every other byte of the HTML comes out as it went in.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable, Collection
from html.parser import HTMLParser

UNSUBSCRIBE_MARKER = "unsubscribe"
"""``<a data-leadflow="unsubscribe" href=...>`` is never rewritten by ``track_links``."""

# One attribute inside a start tag: name, then optionally = and a quoted or bare value.
_ATTR = re.compile(
    r"""(?P<name>[^\s/>"'=][^\s/>=]*)"""
    r"""(?:\s*=\s*(?P<value>"[^"]*"|'[^']*'|[^\s>]+))?""",
)
_TAG_NAME = re.compile(r"<\s*[a-zA-Z][^\s/>]*")
_HTTP = re.compile(r"^https?://", re.IGNORECASE)


def _is_http(url: str) -> bool:
    return _HTTP.match(url) is not None


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        raw = raw[1:-1]
    return htmllib.unescape(raw)


def _attr_value(value: str) -> str:
    return '"' + htmllib.escape(value, quote=True) + '"'


def _rewrite_anchor(tag: str, wrap: Callable[[str], str], keep: Collection[str]) -> str:
    """An ``<a ...>`` start tag with its http(s) href passed through ``wrap`` (or as it was)."""
    name = _TAG_NAME.match(tag)
    if name is None:
        return tag
    attrs: dict[str, str] = {}
    href_span: tuple[int, int] | None = None
    href = ""
    for match in _ATTR.finditer(tag, name.end()):
        key = match.group("name").lower()
        if key in attrs:  # the first of duplicate attributes wins (as in browsers)
            continue
        raw = match.group("value")
        attrs[key] = _unquote(raw) if raw is not None else ""
        if key == "href" and raw is not None:
            href_span = match.span("value")
            href = attrs[key].strip()
    if href_span is None or not _is_http(href):
        return tag
    if attrs.get("data-leadflow", "").strip().lower() == UNSUBSCRIBE_MARKER or href in keep:
        return tag
    start, end = href_span
    return tag[:start] + _attr_value(wrap(href)) + tag[end:]


class _AnchorFinder(HTMLParser):
    """Where the ``<a>`` start tags are (outside comments, scripts, styles and such)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[int, int, str]] = []  # (line, column, raw start tag)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            raw = self.get_starttag_text()
            if raw is not None:
                line, column = self.getpos()
                self.anchors.append((line, column, raw))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")
    return starts


def track_links(
    html: str, wrap: Callable[[str], str], *, keep: Collection[str] = frozenset()
) -> str:
    """``html`` with the href of every ``<a>`` whose URL is http(s) replaced by ``wrap(url)``.

    ``wrap`` gets the URL unescaped (``&amp;`` read as ``&``) and its result is written back
    escaped and double-quoted. Left alone: other schemes (mailto:, tel:, ...), ``#anchors``,
    relative URLs, links marked ``data-leadflow="unsubscribe"``, links whose URL is in
    ``keep``, anything inside comments, scripts or styles, and every byte outside the
    rewritten href values.
    """
    finder = _AnchorFinder()
    finder.feed(html)
    finder.close()
    if not finder.anchors:
        return html
    starts = _line_starts(html)
    out: list[str] = []
    done = 0
    for line, column, raw in finder.anchors:
        offset = starts[line - 1] + column
        if offset < done or html[offset : offset + len(raw)] != raw:
            continue  # cannot place it exactly: leave it untouched
        out.append(html[done:offset])
        out.append(_rewrite_anchor(raw, wrap, keep))
        done = offset + len(raw)
    out.append(html[done:])
    return "".join(out)


_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def open_pixel_tag(pixel_url: str) -> str:
    return (
        f'<img src={_attr_value(pixel_url)} alt="" width="1" height="1" '
        'border="0" style="display:none;width:1px;height:1px;border:0" />'
    )


def add_open_pixel(html: str, pixel_url: str) -> str:
    """``html`` with a 1x1 open pixel just before its last ``</body>`` (appended if none)."""
    tag = open_pixel_tag(pixel_url)
    matches = list(_BODY_END.finditer(html))
    if not matches:
        return html + tag
    at = matches[-1].start()
    return html[:at] + tag + html[at:]


# --- text fallback ----------------------------------------------------------------------

_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table",
        "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_SKIP = frozenset({"head", "script", "style", "title", "template", "noscript"})


_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"})
_SPACE = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.pre = 0
        self.links: list[tuple[str, int]] = []  # (href, where its label starts in out)

    def block(self, tag: str) -> None:
        """Line breaks around a block element (no more than it needs after the last ones)."""
        need = 2 if tag in _PARAGRAPHS else 1
        have = 0
        for piece in reversed(self.out):
            rest = piece.rstrip(" \t\n")
            have += piece.count("\n", len(rest))
            if rest:
                break
        if not self.out:
            have = need
        self.out.append("\n" * max(0, need - have))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "a":
            self.links.append(((dict(attrs).get("href") or "").strip(), len(self.out)))
        elif tag in _BLOCKS:
            self.block(tag)
            if tag == "li":
                self.out.append("- ")
            elif tag == "pre":
                self.pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append("\n")
        elif tag in _BLOCKS:
            self.block(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "a" and self.links:
            href, at = self.links.pop()
            label = _SPACE.sub(" ", "".join(self.out[at:])).strip()
            shown = href
            if href.lower().startswith("mailto:"):
                shown = href[7:].split("?", 1)[0]
            elif not _is_http(href):
                shown = ""  # #anchors, relative and other links: the label is enough
            if shown and shown != label:
                self.out.append(f" ({shown})" if label else shown)
        elif tag in _BLOCKS:
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            self.block(tag)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        self.out.append(data if self.pre else _SPACE.sub(" ", data))


_INLINE_SPACE = re.compile(r"[^\S\n]+")


def html_to_text(html: str) -> str:
    """A plain-text version of an HTML email: tags stripped, entities decoded, paragraphs
    and line breaks kept, and links written as ``text (url)``."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [_INLINE_SPACE.sub(" ", line).strip() for line in "".join(parser.out).split("\n")]
    text = "\n".join(lines).strip()
    return re.sub(r"\n{3,}", "\n\n", text)
