"""Email templates: subject, HTML and text bodies in sandboxed Jinja2.

Pure: no I/O, no database, no clock (``now`` comes in through the render context).

- ``validate(parts)`` parses every part and names the line of each problem: a syntax error,
  a variable the render context will not have, an unknown filter or test, an attribute that
  starts with ``_`` (the sandbox refuses them), an ``{% include %}``-like tag (templates
  stand alone).
- ``render(parts, context)`` renders the three parts: HTML autoescaped, subject and text not;
  a missing attribute renders empty (``lead.company.name`` with no company is ``""``, and
  ``default("there")`` applies); the subject comes out on one line. Anything that goes
  wrong, including a sandbox violation, raises ``RenderError``.
- ``lead_context(lead)`` turns what lead events carry into the render context's lead part.
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from jinja2 import ChainableUndefined, Template, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.nurture.domain.links import html_to_text

PartName = Literal["subject", "html", "text"]
PARTS: tuple[PartName, ...] = ("subject", "html", "text")

KNOWN_VARIABLES: frozenset[str] = frozenset(
    {
        "lead",  # the person: traits, email, first_name, last_name, lead_id (free-form)
        "score",
        "fit",
        "engagement",
        "stage",
        "workspace",  # the workspace's name
        "unsubscribe_url",
        "preferences_url",
        "now",  # a datetime given by the caller (the templates never read the clock)
    }
)
"""Top-level variables a template may use (besides Jinja's globals such as ``range``)."""

MAX_OUTPUT_CHARS = 2_000_000
"""A rendered part longer than this is refused (a loop gone wild, not an email)."""

_MAX_EXPONENT = 100


class TemplateParts(BaseModel):
    """An email template as marketers write it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(min_length=1, max_length=300)
    html: str = ""
    text: str = ""

    @model_validator(mode="after")
    def _one_body(self) -> TemplateParts:
        if not self.html.strip() and not self.text.strip():
            raise ValueError("a template needs an html or a text body (or both)")
        return self


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a template, e.g. ``html line 3: unknown variable 'leed'``."""

    part: PartName
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.part} line {self.line}: {self.message}"


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


class RenderError(Exception):
    """A template could not be rendered (runtime error, sandbox violation, output too big)."""

    def __init__(self, part: PartName, message: str, line: int | None = None) -> None:
        self.part = part
        self.line = line
        self.message = message
        where = f"{part} line {line}" if line is not None else part
        super().__init__(f"{where}: {message}")


# --- the environment --------------------------------------------------------------------


def _finalize(value: Any) -> Any:
    """``{{ x }}`` with x None renders empty, not "None"; so does a function or method
    (``{{ lead.name.upper }}`` without the call), rather than its repr and address."""
    return "" if value is None or callable(value) else value


def _sized(value: Any) -> bool:
    return isinstance(value, str | bytes | list | tuple)


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, made strict about escapes and bounded in size.

    - Unsafe attributes (``__class__``, ``mro``, ``func_globals``, mutating methods of
      builtin containers, ...) raise ``SecurityError`` instead of rendering as undefined, so a
      probing template fails loudly rather than quietly rendering empty.
    - ``x.name`` on a mapping prefers the key ``name`` (a trait called ``items`` or
      ``values`` is the trait, not the dict's method).
    - ``"a" * 10**9`` and ``2 ** 10**9`` are refused before they allocate.
    """

    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> NoReturn:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and not attribute.startswith("_"):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is too large (at most {_MAX_EXPONENT})")
            return left**right
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if _sized(seq) and isinstance(times, int) and len(seq) * times > MAX_OUTPUT_CHARS:
                    raise SecurityError("repetition result is too large")
            return left * right
        return super().call_binop(context, operator, left, right)


def _environment(autoescape: bool) -> _Sandbox:
    return _Sandbox(
        autoescape=autoescape,
        undefined=ChainableUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_HTML_ENV = _environment(autoescape=True)
_TEXT_ENV = _environment(autoescape=False)


def _env(part: PartName) -> _Sandbox:
    return _HTML_ENV if part == "html" else _TEXT_ENV


@functools.lru_cache(maxsize=1024)
def _compiled(autoescape: bool, source: str) -> Template:
    """Compiled templates by source (compiling costs far more than rendering)."""
    env = _HTML_ENV if autoescape else _TEXT_ENV
    return env.from_string(source)


# --- validation -------------------------------------------------------------------------


class _Checker:
    """Walks a template's AST with the set of names known at each point."""

    def __init__(self, part: PartName, env: _Sandbox) -> None:
        self.part = part
        self.env = env
        self.problems: list[Problem] = []
        self._seen: set[tuple[int, str]] = set()

    def problem(self, node: nodes.Node, message: str) -> None:
        line = int(getattr(node, "lineno", 1) or 1)
        if (line, message) not in self._seen:
            self._seen.add((line, message))
            self.problems.append(Problem(self.part, line, message))

    def body(self, body: Iterable[nodes.Node], scope: set[str]) -> None:
        for node in body:
            self.walk(node, scope)

    def walk(self, node: nodes.Node, scope: set[str]) -> None:
        if isinstance(node, nodes.Name | nodes.NSRef):
            self._name(node, scope)
        elif isinstance(node, nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport):
            self.problem(node, "templates cannot extend, include or import other templates")
        elif not self._scoped(node, scope):
            self._check(node)
            for child in node.iter_child_nodes():
                self.walk(child, scope)

    def _name(self, node: nodes.Name | nodes.NSRef, scope: set[str]) -> None:
        if isinstance(node, nodes.NSRef) or node.ctx == "load":  # {% set ns.attr = ... %}
            if node.name not in scope:
                self.problem(node, f"unknown variable {node.name!r}")
        else:  # "store" or "param": the name exists from here on
            scope.add(node.name)

    def _scoped(self, node: nodes.Node, scope: set[str]) -> bool:
        """Walk a node that introduces names (loops, assignments, macros, ...) with the
        scope it gives its parts; False for any other node."""
        if isinstance(node, nodes.For):
            self.walk(node.iter, scope)
            inner = set(scope) | {"loop"}
            self.walk(node.target, inner)
            if node.test is not None:
                self.walk(node.test, inner)
            self.body(node.body, inner)
            self.body(node.else_, set(scope))
        elif isinstance(node, nodes.Assign):  # value first, then the name exists
            self.walk(node.node, scope)
            self.walk(node.target, scope)
        elif isinstance(node, nodes.AssignBlock):
            if node.filter is not None:
                self.walk(node.filter, scope)
            self.body(node.body, set(scope))
            self.walk(node.target, scope)
        elif isinstance(node, nodes.With):
            self.body(node.values, scope)
            inner = set(scope)
            self.body(node.targets, inner)
            self.body(node.body, inner)
        elif isinstance(node, nodes.Macro | nodes.CallBlock):
            if isinstance(node, nodes.Macro):
                scope.add(node.name)
                inner = set(scope) | {"varargs", "kwargs", "caller"}
            else:
                self.walk(node.call, scope)
                inner = set(scope) | {"varargs", "kwargs"}
            self.body(node.args, inner)
            self.body(node.defaults, inner)
            self.body(node.body, inner)
        elif isinstance(node, nodes.Block):
            self.body(node.body, set(scope) | {"super"})
        else:
            return False
        return True

    def _check(self, node: nodes.Node) -> None:
        """Unknown filters and tests, private attributes."""
        if isinstance(node, nodes.Filter) and node.name not in self.env.filters:
            self.problem(node, f"unknown filter {node.name!r}")
        elif isinstance(node, nodes.Test) and node.name not in self.env.tests:
            self.problem(node, f"unknown test {node.name!r}")
        elif isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            self.problem(node, f"attribute {node.attr!r} is not allowed")
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
            and node.arg.value.startswith("_")
        ):
            self.problem(node, f"attribute {node.arg.value!r} is not allowed")


def validate_part(part: PartName, source: str) -> list[Problem]:
    """The problems of one part, by line ([] when it is fine)."""
    env = _env(part)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return [Problem(part, exc.lineno or 1, exc.message or "syntax error")]
    checker = _Checker(part, env)
    checker.body(tree.body, set(KNOWN_VARIABLES) | set(env.globals))
    if checker.problems:
        return sorted(checker.problems, key=lambda p: p.line)
    try:
        _compiled(part == "html", source)
    except TemplateSyntaxError as exc:  # also TemplateAssertionError
        return [Problem(part, exc.lineno or 1, exc.message or "invalid template")]
    except TemplateError as exc:
        return [Problem(part, 1, exc.message or "invalid template")]
    return []


def validate(parts: TemplateParts) -> list[Problem]:
    """Every problem of every part, in part then line order ([] when the template is fine)."""
    problems: list[Problem] = []
    for part in PARTS:
        problems.extend(validate_part(part, getattr(parts, part)))
    return problems


# --- rendering --------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def _one_line(subject: str) -> str:
    """A header-safe subject: line breaks and other control characters become spaces."""
    return " ".join(_CONTROL.sub(" ", subject).split())


def _template_line(exc: BaseException) -> int | None:
    """The template line an exception was raised at (Jinja rewrites tracebacks so that the
    template's frames carry its line numbers under the file name ``<template>``)."""
    line: int | None = getattr(exc, "lineno", None)
    tb: types.TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_part(part: PartName, source: str, context: Mapping[str, Any]) -> str:
    """One part rendered (not yet post-processed); raises RenderError."""
    try:
        template = _compiled(part == "html", source)
        out: list[str] = []
        size = 0
        for chunk in template.generate(dict(context)):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise RenderError(part, f"output longer than {MAX_OUTPUT_CHARS} characters")
            out.append(chunk)
    except RenderError:
        raise
    except TemplateSyntaxError as exc:
        raise RenderError(part, exc.message or "syntax error", exc.lineno) from exc
    except SecurityError as exc:
        raise RenderError(part, f"not allowed: {exc}", _template_line(exc)) from exc
    except TemplateError as exc:
        raise RenderError(part, str(exc), _template_line(exc)) from exc
    except Exception as exc:  # a template can raise anything: 1/0, "a" + 1, ...
        message = f"{type(exc).__name__}: {exc}"
        raise RenderError(part, message, _template_line(exc)) from exc
    return "".join(out)


def render(parts: TemplateParts, context: Mapping[str, Any]) -> Rendered:
    """Subject, HTML and text rendered for one lead.

    The subject is on one line and stripped; the HTML is autoescaped; when the template has
    no text part the text is derived from the rendered HTML (``html_to_text``). Raises
    ``RenderError`` (with the part and, where known, the line).
    """
    subject = _one_line(render_part("subject", parts.subject, context))
    html = render_part("html", parts.html, context) if parts.html.strip() else ""
    text = render_part("text", parts.text, context) if parts.text.strip() else html_to_text(html)
    return Rendered(subject=subject, html=html, text=text)


# --- the render context -----------------------------------------------------------------

_FIRST_NAME_KEYS = ("first_name", "firstName", "firstname", "given_name", "givenName")
_LAST_NAME_KEYS = ("last_name", "lastName", "lastname", "family_name", "familyName")


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _first(traits: Mapping[str, Any], keys: Iterable[str]) -> str | None:
    for key in keys:
        value = _text(traits.get(key))
        if value is not None:
            return value
    return None


def lead_context(lead: Mapping[str, Any]) -> dict[str, Any]:
    """The render context for a lead, from what lead events carry.

    ``lead`` is a lead event's payload (or anything shaped like it): ``lead_id``, ``email``,
    ``traits``, ``score``, ``fit``, ``engagement``, ``stage`` (or ``to_stage``). The result has
    ``lead`` (the traits, plus ``email``, ``first_name``, ``last_name`` and ``lead_id``) and
    ``score``, ``fit``, ``engagement``, ``stage`` at the top. Values that are None (or a blank
    name) are left out so that ``default(...)`` applies to them. The caller adds
    ``workspace``, ``unsubscribe_url``, ``preferences_url`` and ``now``.
    """
    raw_traits = lead.get("traits")
    traits: Mapping[str, Any] = raw_traits if isinstance(raw_traits, Mapping) else {}
    person: dict[str, Any] = {str(k): v for k, v in traits.items() if v is not None}

    email = _text(lead.get("email")) or _text(traits.get("email"))
    first = _first(traits, _FIRST_NAME_KEYS)
    last = _first(traits, _LAST_NAME_KEYS)
    full = _text(traits.get("name"))
    if full is not None and (first is None or last is None):
        given, _, family = full.partition(" ")
        first = first or _text(given)
        last = last or _text(family)
    for key, value in (
        ("email", email),
        ("first_name", first),
        ("last_name", last),
        ("lead_id", lead.get("lead_id")),
    ):
        if value is not None:
            person[key] = value
        else:
            person.pop(key, None)

    context: dict[str, Any] = {"lead": person}
    stage = lead.get("stage")
    if stage is None:
        stage = lead.get("to_stage")
    for key, value in (
        ("score", lead.get("score")),
        ("fit", lead.get("fit")),
        ("engagement", lead.get("engagement")),
        ("stage", stage),
    ):
        if value is not None:
            context[key] = value
    return context
