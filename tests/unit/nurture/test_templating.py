from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.nurture.domain.links import add_open_pixel, html_to_text, track_links
from services.nurture.domain.templating import (
    Problem,
    Rendered,
    RenderError,
    TemplateParts,
    lead_context,
    render,
    validate,
)


def parts(subject: str = "Hello", html: str = "", text: str = "") -> TemplateParts:
    if not html and not text:
        text = "body"
    return TemplateParts(subject=subject, html=html, text=text)


def ctx(**traits: Any) -> dict[str, Any]:
    return lead_context({"lead_id": "l1", "email": "ada@example.com", "traits": traits})


# --- the model ----------------------------------------------------------------------------


def test_parts_need_a_subject_and_a_body() -> None:
    with pytest.raises(ValidationError):
        TemplateParts(subject="", text="x")
    with pytest.raises(ValidationError):
        TemplateParts(subject="x" * 301, text="x")
    with pytest.raises(ValidationError):
        TemplateParts(subject="Hi", html="  ", text="")
    assert TemplateParts(subject="Hi", html="<p>x</p>").text == ""


# --- validation ---------------------------------------------------------------------------


def test_a_good_template_has_no_problems() -> None:
    template = parts(
        subject="{{ lead.first_name | default('there') }}, your score is {{ score }}",
        html=(
            "<p>Hi {{ lead.first_name | default('there') }} at {{ lead.company.name }}</p>\n"
            "{% if stage == 'mql' and fit is not none %}{{ engagement }}{% endif %}\n"
            "<a href='{{ unsubscribe_url }}'>unsubscribe</a> <a href='{{ preferences_url }}'>p</a>"
            "\n{{ workspace }} {{ now.year }} {{ range(3) | list }}"
        ),
        text="Hi {{ lead.first_name }}",
    )
    assert validate(template) == []


def test_a_syntax_error_names_its_line() -> None:
    problems = validate(parts(html="<p>\n{{ lead.first_name }}\n{% if %}\n</p>"))
    assert len(problems) == 1
    assert problems[0].part == "html"
    assert problems[0].line == 3
    assert "expected an expression" in problems[0].message.lower()


def test_an_unclosed_block_is_a_syntax_error() -> None:
    problems = validate(parts(text="{% for x in lead.tags %}\n{{ x }}"))
    assert [p.part for p in problems] == ["text"]
    assert problems[0].line >= 1


def test_an_unknown_variable_names_the_line_it_is_used_on() -> None:
    problems = validate(parts(html="<p>\nHello\n{{ leed.first_name }}</p>"))
    assert problems == [Problem("html", 3, "unknown variable 'leed'")]
    assert str(problems[0]) == "html line 3: unknown variable 'leed'"


def test_unknown_variables_in_every_part() -> None:
    problems = validate(parts(subject="{{ nme }}", html="x", text="\n{{ scor }}"))
    assert [str(p) for p in problems] == [
        "subject line 1: unknown variable 'nme'",
        "text line 2: unknown variable 'scor'",
    ]


def test_unknown_filters_and_tests_are_problems_with_lines() -> None:
    problems = validate(
        parts(html="{{ lead.first_name | shout }}\n{% if score is huge %}{% endif %}")
    )
    assert [str(p) for p in problems] == [
        "html line 1: unknown filter 'shout'",
        "html line 2: unknown test 'huge'",
    ]


def test_set_for_with_and_macro_names_are_known_where_they_exist() -> None:
    ok = (
        "{% set greeting = 'Hi' %}{{ greeting }}\n"
        "{% for tag in lead.tags %}{{ loop.index }}: {{ tag }}{% endfor %}\n"
        "{% for k, v in lead.items() if v %}{{ k }}={{ v }}{% endfor %}\n"
        "{% set ns = namespace(n=0) %}{% set ns.n = ns.n + 1 %}{{ ns.n }}\n"
        "{% with who = lead.first_name %}{{ who }}{% endwith %}\n"
        "{% macro hello(name) %}Hello {{ name }}{% endmacro %}{{ hello(lead.first_name) }}\n"
        "{% set block_value %}x{% endset %}{{ block_value }}"
    )
    assert validate(parts(text=ok)) == []


def test_names_are_scoped_to_their_block() -> None:
    problems = validate(
        parts(text="{% for tag in lead.tags %}{{ tag }}{% endfor %}\n{{ tag }} {{ loop.index }}")
    )
    assert [str(p) for p in problems] == [
        "text line 2: unknown variable 'tag'",
        "text line 2: unknown variable 'loop'",
    ]


def test_private_attributes_and_includes_are_problems() -> None:
    problems = validate(parts(html="{{ lead.__class__ }}\n{% include 'other.html' %}"))
    assert [p.line for p in problems] == [1, 2]
    assert "__class__" in problems[0].message


# --- rendering ----------------------------------------------------------------------------


def test_default_applies_when_the_trait_is_missing() -> None:
    template = parts(subject="Hi {{ lead.first_name | default('there') }}")
    assert render(template, ctx()).subject == "Hi there"
    assert render(template, ctx(first_name="Ada")).subject == "Hi Ada"
    assert render(template, ctx(first_name=None)).subject == "Hi there"


def test_a_nested_missing_attribute_renders_empty() -> None:
    template = parts(text="[{{ lead.company.name }}][{{ lead.company.name | default('you') }}]")
    assert render(template, ctx()).text == "[][you]"
    assert render(template, ctx(company={"name": "Acme"})).text == "[Acme][Acme]"


def test_html_is_autoescaped_and_text_and_subject_are_not() -> None:
    context = ctx(first_name="<b>Tom & Jerry</b>")
    result = render(
        parts(
            subject="{{ lead.first_name }}",
            html="<p>{{ lead.first_name }}</p>",
            text="{{ lead.first_name }}",
        ),
        context,
    )
    assert result == Rendered(
        subject="<b>Tom & Jerry</b>",
        html="<p>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p>",
        text="<b>Tom & Jerry</b>",
    )


def test_the_subject_is_one_line() -> None:
    context = ctx(first_name="Ada\r\nBcc: victim@example.com")
    result = render(parts(subject="  Hi {{ lead.first_name }}\n  welcome \n"), context)
    assert result.subject == "Hi Ada Bcc: victim@example.com welcome"
    assert "\n" not in result.subject
    assert "\r" not in result.subject


def test_the_whole_context_is_available() -> None:
    context = {
        **lead_context({"lead_id": "l1", "traits": {}, "score": 72, "stage": "mql"}),
        "workspace": "Acme",
        "unsubscribe_url": "https://u.example/x?a=1&b=2",
        "now": datetime(2026, 6, 1, tzinfo=UTC),
    }
    template = parts(
        html='<a href="{{ unsubscribe_url }}">x</a>',
        text="{{ workspace }} {{ score }} {{ stage }} {{ now.year }} [{{ fit }}]",
    )
    result = render(template, context)
    assert result.text == "Acme 72 mql 2026 []"
    assert result.html == '<a href="https://u.example/x?a=1&amp;b=2">x</a>'


def test_text_falls_back_to_the_html() -> None:
    result = render(parts(html="<p>Hi <a href='https://x.example/'>there</a></p>"), ctx())
    assert result.text == "Hi there (https://x.example/)"


@pytest.mark.parametrize(
    "source",
    [
        "{{ lead.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ lead['__class__'] }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lead.update({'email': 'x'}) }}",
        "{{ '{0.__class__}'.format(lead) }}",
        "{{ 'x' * 1000000000 }}",
        "{{ 9 ** 999999999 }}",
    ],
)
def test_sandbox_escapes_raise_render_error(source: str) -> None:
    with pytest.raises(RenderError):
        render(parts(text=source), ctx(first_name="Ada"))


def test_render_errors_name_the_part_and_line() -> None:
    with pytest.raises(RenderError) as caught:
        render(parts(html="<p>\n\n{{ 1 / 0 }}</p>"), ctx())
    assert caught.value.part == "html"
    assert caught.value.line == 3
    assert str(caught.value).startswith("html line 3: ")
    with pytest.raises(RenderError, match="subject"):
        render(parts(subject="{% if %}"), ctx())


def test_runaway_output_is_refused() -> None:
    loop = "{% for i in range(100000) %}{% for j in range(100) %}xxxx{% endfor %}{% endfor %}"
    with pytest.raises(RenderError, match="longer than"):
        render(parts(text=loop), ctx())


# --- lead context -------------------------------------------------------------------------


def test_lead_context_from_a_lead_event() -> None:
    context = lead_context(
        {
            "lead_id": "l1",
            "email": "ada@example.com",
            "traits": {"firstName": "Ada", "lastName": "Lovelace", "plan": "pro"},
            "score": 80,
            "fit": 60,
            "engagement": 90,
            "stage": "mql",
        }
    )
    assert context == {
        "lead": {
            "firstName": "Ada",
            "lastName": "Lovelace",
            "plan": "pro",
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "lead_id": "l1",
        },
        "score": 80,
        "fit": 60,
        "engagement": 90,
        "stage": "mql",
    }


@pytest.mark.parametrize(
    ("traits", "first", "last"),
    [
        ({"first_name": "Ada", "last_name": "Lovelace"}, "Ada", "Lovelace"),
        ({"firstName": "Ada"}, "Ada", None),
        ({"name": "Ada King Lovelace"}, "Ada", "King Lovelace"),
        ({"name": "  Ada  "}, "Ada", None),
        ({"name": "Augusta Ada King", "first_name": "Ada"}, "Ada", "Ada King"),
        ({"first_name": "", "name": ""}, None, None),
        ({}, None, None),
    ],
)
def test_lead_context_derives_names(
    traits: dict[str, Any], first: str | None, last: str | None
) -> None:
    lead = lead_context({"lead_id": "l1", "traits": traits})["lead"]
    assert lead.get("first_name") == first
    assert lead.get("last_name") == last


def test_lead_context_email_from_traits_and_stage_from_a_lifecycle_event() -> None:
    context = lead_context(
        {"lead_id": "l1", "traits": {"email": "t@example.com"}, "to_stage": "sql", "fit": None}
    )
    assert context["lead"]["email"] == "t@example.com"
    assert context["stage"] == "sql"
    assert "fit" not in context


# --- links --------------------------------------------------------------------------------


def wrap(url: str) -> str:
    return "https://t.example/c/" + url.replace("https://", "").replace("http://", "")


def test_track_links_rewrites_only_http_anchors() -> None:
    html = (
        "<!DOCTYPE html>\n<html><body>\n"
        '<p class="x">Hi <a href="https://ex.com/a?b=1&amp;c=2" style="color:red">Go</a>\n'
        "<A HREF='http://ex.com/upper'>up</A> <a href=https://ex.com/bare>bare</a>\n"
        '<a href="mailto:s@ex.com">mail</a> <a href="tel:+15551234">call</a> '
        '<a href="#top">top</a> <a href="/relative">rel</a> <a name="n">named</a>\n'
        '<a data-leadflow="unsubscribe" href="https://ex.com/unsub">unsubscribe</a>\n'
        '<a href="https://ex.com/prefs">prefs</a>\n'
        '<!-- <a href="https://ex.com/comment">c</a> -->\n'
        "<script>var s = '<a href=\"https://ex.com/script\">';</script>\n"
        '<img src="https://ex.com/i.png"> &nbsp;Caf&eacute;</p>\n</body></html>'
    )
    seen: list[str] = []

    def record(url: str) -> str:
        seen.append(url)
        return wrap(url) + "?x=1&y=2"

    out = track_links(html, record, keep={"https://ex.com/prefs"})
    assert seen == ["https://ex.com/a?b=1&c=2", "http://ex.com/upper", "https://ex.com/bare"]
    expected = (
        html.replace(
            '"https://ex.com/a?b=1&amp;c=2"',
            '"https://t.example/c/ex.com/a?b=1&amp;c=2?x=1&amp;y=2"',
        )
        .replace("'http://ex.com/upper'", '"https://t.example/c/ex.com/upper?x=1&amp;y=2"')
        .replace("=https://ex.com/bare>", '="https://t.example/c/ex.com/bare?x=1&amp;y=2">')
    )
    assert out == expected


def test_track_links_without_anchors_is_the_identity() -> None:
    html = "<p>no links &amp; <b>bold</b></p>\r\n<br/>"
    assert track_links(html, wrap) == html


def test_track_links_escapes_the_new_url() -> None:
    out = track_links('<a href="https://ex.com/">x</a>', lambda _: 'https://t/"><script>')
    assert out == '<a href="https://t/&quot;&gt;&lt;script&gt;">x</a>'


def test_open_pixel_goes_before_the_body_end() -> None:
    out = add_open_pixel("<html><body><p>x</p></BODY></html>", "https://t.example/o?a=1&b=2")
    assert out.startswith("<html><body><p>x</p><img ")
    assert out.endswith("</BODY></html>")
    assert 'src="https://t.example/o?a=1&amp;b=2"' in out
    for attribute in ('alt=""', 'width="1"', 'height="1"', "display:none"):
        assert attribute in out


def test_open_pixel_is_appended_without_a_body() -> None:
    out = add_open_pixel("<p>x</p>", "https://t.example/o")
    assert out.startswith("<p>x</p><img ")
    assert out.endswith("/>")


def test_html_to_text() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<h1>Welcome</h1><p>Hi <b>Ada</b>, read <a href='https://ex.com/a?x=1&amp;y=2'>the"
        "  guide</a>.</p><ul><li>one</li><li><a href='https://ex.com/'>https://ex.com/</a></li>"
        "</ul><p>Line<br>break &amp; more <a href='mailto:s@ex.com'>write us</a>"
        " <a href='#top'>top</a></p><script>var x = 1;</script></body></html>"
    )
    assert html_to_text(html) == (
        "Welcome\n\n"
        "Hi Ada, read the guide (https://ex.com/a?x=1&y=2).\n\n"
        "- one\n- https://ex.com/\n\n"
        "Line\nbreak & more write us (s@ex.com) top"
    )
