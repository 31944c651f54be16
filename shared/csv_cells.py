"""CSV that a spreadsheet opens as data, never as formulas (OWASP's CSV injection rule).

Text chosen by outsiders reaches CSV answers (UTM values come from anyone holding a public
write key); a cell starting with `=`, `+`, `-`, `@`, tab or carriage return opens as a
formula in Excel, LibreOffice and Google Sheets. Such text cells get a leading single quote,
which spreadsheets show as text. Numbers are left as numbers (`-3` is a value, not a
formula), and JSON answers never pass through here, so they stay exact."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value` as a CSV cell: text that would start a formula behind a single quote; any
    other value (numbers, dates, None, ...) as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A header line of `columns`, then one line per row, every cell through `safe_cell`
    (quoted where the csv module quotes: a comma, a quote, a line break). Keys of a row not
    in `columns` are left out; a missing one is an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(name) for name in columns])
    for row in rows:
        writer.writerow([safe_cell(row.get(name)) for name in columns])
    return out.getvalue()
