"""The funnel page and its CSV downloads over a faked reporting API (httpx MockTransport):
which parameters each report is asked with, how pickers are checked, what is drawn."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.console.main import create_app
from services.console.settings import ConsoleSettings

REPORTING = "http://reporting.test"
STAGES = ("subscriber", "lead", "mql", "sql", "opportunity", "customer")


def stages(top: int) -> dict[str, Any]:
    counts = [top, top // 2, top // 4, top // 8, top // 16, top // 32]
    rows = []
    for i, (stage, n) in enumerate(zip(STAGES, counts, strict=True)):
        rows.append(
            {
                "stage": stage,
                "reached": n,
                "conversion_from_previous": round(n / counts[i - 1], 4) if i else None,
                "conversion_from_top": round(n / top, 4),
                "converted": None if i == 5 else counts[i + 1],
                "in_progress": None if i == 5 else 0,
                "lost": None if i == 5 else n - counts[i + 1],
                "window_days": None if i == 5 else 30,
            }
        )
    return {
        "stages": rows,
        "largest_drop_off": {"from": "subscriber", "to": "lead", "lost_share": 0.5},
    }


def cohort_rows(unit: str) -> list[dict[str, Any]]:
    out = []
    for cohort, ages, leads in (("2026-10-05", 3, 20), ("2026-10-12", 2, 10)):
        for age in range(ages):
            row: dict[str, Any] = {"cohort": cohort, "age": age, "leads": leads}
            for k, stage in enumerate(("lead", "mql", "sql", "opportunity", "customer")):
                reached = max(0, leads // (k + 2) - (ages - 1 - age))
                row[f"reached_{stage}"] = reached
                row[f"share_{stage}"] = round(reached / leads, 4)
            out.append(row)
    return out


FORECAST = {
    "horizon_start": "2026-11-23T12:00:00Z",
    "horizon_end": "2026-12-23T12:00:00Z",
    "method": "For each step (lead -> mql, ...), the period gives the conversion rate p.",
    "rows": [
        {
            "measure": "mql",
            "from_stage": "lead",
            "pipeline": 40,
            "observed_leads": 50,
            "observed_conversion": 0.2,
            "median_days": 3.0,
            "expected": 6.5,
        },
        {
            "measure": "sql",
            "from_stage": "mql",
            "pipeline": 8,
            "observed_leads": 10,
            "observed_conversion": 0.5,
            "median_days": 2.0,
            "expected": 3.25,
        },
        {
            "measure": "customer",
            "from_stage": "sql",
            "pipeline": 2,
            "observed_leads": 3,
            "observed_conversion": 0.3333,
            "median_days": 9.0,
            "expected": 0.5,
        },
        {
            "measure": "revenue",
            "from_stage": "customer",
            "pipeline": None,
            "observed_leads": None,
            "observed_conversion": None,
            "median_days": None,
            "expected": 6000.0,
        },
    ],
}


OTHERS: dict[str, dict[str, Any]] = {
    "/v1/attribution": {
        "rows": [
            {"stage": st, "model": m, "dimension": d, "value": v, "credit": c, "share": c / 4}
            for st in ("mql", "sql")
            for m in ("first_touch", "linear")
            for d in ("source", "campaign")
            for v, c in (("google", 3), ("(none)", 1))
        ]
    },
    "/v1/revenue": {
        "rows": [
            {"dimension": "all", "value": "", "leads": 9, "revenue": 900.0, "cost": 300.0},
            {"dimension": "source", "value": "google", "leads": 5, "revenue": 700.0, "cost": None},
            {"dimension": "source", "value": "bing", "leads": 4, "revenue": 200.0, "cost": None},
        ]
    },
    "/v1/nurture": {
        "rows": [
            {"sequence_id": "sq_1", "step_id": "", "variant_id": "", "open_rate": 0.5},
            {"sequence_id": "sq_1", "step_id": "welcome", "variant_id": "", "open_rate": 0.5},
        ]
    },
    "/v1/volume": {
        "rows": [
            {"date": "2026-10-02", "measure": "touchpoints", "type": "page", "count": 7},
            {"date": "2026-10-02", "measure": "touchpoints", "type": "track", "count": 3},
            {"date": "2026-10-02", "measure": "new_leads", "type": "", "count": 2},
        ]
    },
}
REPORT_KEYS = ("funnel", "velocity", "cohorts", "forecast", "attribution", "revenue", "nurture")
REPORT_KEYS += ("volume",)


class FakeReporting:
    """Answers as reporting would (JSON, or a CSV naming the parameters it was asked with),
    and remembers every request."""

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        q = dict(request.url.params)
        if request.url.path == "/v1/workspace":
            return httpx.Response(200, json={"name": "Acme"})
        if q.get("tz") == "Mars/Base":
            return httpx.Response(400, json={"detail": "tz: 'Mars/Base' is not an IANA time zone"})
        if q.get("format") == "csv":
            return httpx.Response(
                200, text=f"path,params\n{request.url.path},{sorted(q.items())}\n"
            )
        path = request.url.path
        if path == "/v1/funnel" and q.get("breakdown"):
            names = ("sq_9", "sq_1") if q["breakdown"] == "sequence" else ("google", "(none)")
            groups = [{"group": g, **stages(n)} for g, n in zip(names, (64, 32), strict=True)]
            return httpx.Response(200, json={"breakdown": q["breakdown"], "groups": groups})
        if path == "/v1/funnel":
            return httpx.Response(200, json=stages(64))
        if path == "/v1/velocity":
            measure = {"measure": "time_in_lead", "leads": 3, "median_days": 2.0}
            return httpx.Response(200, json={"measures": [measure | {"p75_days": 3.0}]})
        if path == "/v1/cohorts":
            unit = q.get("cohort", "month")
            return httpx.Response(200, json={"cohort": unit, "rows": cohort_rows(unit)})
        if path == "/v1/forecast":
            return httpx.Response(200, json=FORECAST)
        if path == "/v1/sequences":
            return httpx.Response(200, json=[{"id": "sq_1", "name": "MQL welcome"}])
        if path in OTHERS:
            return httpx.Response(200, json={"start": q["start"], "end": q["end"], **OTHERS[path]})
        return httpx.Response(404, json={"detail": "Not Found"})


@pytest.fixture
def fake() -> FakeReporting:
    return FakeReporting()


@pytest.fixture
def client(fake: FakeReporting) -> Iterator[TestClient]:
    settings = ConsoleSettings(
        ingest_url=REPORTING,
        scoring_url=REPORTING,
        nurture_url=REPORTING,
        reporting_url=REPORTING,
        log_json=False,
    )
    app = create_app(settings)
    with TestClient(app, follow_redirects=False) as c:
        app.state.http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
        assert token
        signed_in = c.post("/login", data={"api_key": "sk_test", "csrf_token": token.group(1)})
        assert signed_in.status_code == 303
        yield c


def _asked(fake: FakeReporting, path: str) -> list[dict[str, str]]:
    return [dict(r.url.params) for r in fake.seen if r.url.path == path]


PERIOD = "start=2026-10-01&end=2026-10-31&tz=Europe%2FParis"


def test_the_page_shows_every_report_with_its_pickers(
    client: TestClient, fake: FakeReporting
) -> None:
    page = client.get(f"/funnel?{PERIOD}")
    assert page.status_code == 200
    for key in REPORT_KEYS:
        assert f'id="{key}-h"' in page.text
        assert f'href="/funnel/{key}.csv?' in page.text
    base = {"start": "2026-10-01", "end": "2026-10-31", "tz": "Europe/Paris"}
    assert _asked(fake, "/v1/funnel") == [base]  # no breakdown: the cohort unit is not sent
    assert _asked(fake, "/v1/cohorts") == [base | {"cohort": "month"}]
    assert _asked(fake, "/v1/forecast") == [base]
    assert page.text.count("<svg") == len(REPORT_KEYS)
    assert "Next period, 2026-11-23 to 2026-12-23: expected revenue 6,000.00." in page.text
    assert "the period gives the conversion rate p" in page.text  # the method, as reporting says
    assert '<option value="" selected>None</option>' in page.text
    assert "Share reached mql" in page.text
    nurture = page.text.split('id="nurture"')[1]
    assert "MQL welcome: Opened 50%" in nurture  # the sequence's name, from nurture
    assert "<td>MQL welcome</td><td>welcome</td>" in nurture


def test_a_breakdown_draws_a_chart_and_table_per_group(
    client: TestClient, fake: FakeReporting
) -> None:
    page = client.get(f"/funnel?{PERIOD}&breakdown=cohort&cohort=week&stage=sql")
    assert page.status_code == 200
    asked = _asked(fake, "/v1/funnel")[0]
    assert (asked["breakdown"], asked["cohort"]) == ("cohort", "week")
    assert _asked(fake, "/v1/cohorts")[0]["cohort"] == "week"
    assert "stage" not in _asked(fake, "/v1/cohorts")[0]  # the console's own picker
    funnel = page.text.split('id="funnel"')[1].split('id="velocity"')[0]
    assert funnel.count("<svg") == 2
    assert '<h3 id="funnel-0-h">google</h3>' in funnel
    assert '<h3 id="funnel-1-h">(none)</h3>' in funnel
    assert funnel.count("<table>") == 2
    ids = re.findall(r'<title id="([^"]+)"', page.text)
    assert len(ids) == len(set(ids)), ids  # every chart labelled by its own title
    assert "Share reached sql" in page.text
    assert (
        'href="/funnel/funnel.csv?start=2026-10-01&amp;end=2026-10-31&amp;tz=Europe%2FParis&amp;breakdown=cohort&amp;cohort=week"'
        in page.text
    )


def test_a_funnel_by_sequence_names_each_group(client: TestClient) -> None:
    page = client.get(f"/funnel?{PERIOD}&breakdown=sequence")
    funnel = page.text.split('id="funnel"')[1].split('id="velocity"')[0]
    assert '<h3 id="funnel-0-h">sq_9</h3>' in funnel  # nurture does not know it: its id
    assert '<h3 id="funnel-1-h">MQL welcome</h3>' in funnel


def test_the_csv_is_reportings_for_the_same_parameters(
    client: TestClient, fake: FakeReporting
) -> None:
    got = client.get(f"/funnel/funnel.csv?{PERIOD}&breakdown=source&cohort=week")
    assert got.status_code == 200
    assert got.headers["content-type"] == "text/csv; charset=utf-8"
    name = "leadflow-funnel-by-source-2026-10-01-to-2026-10-31.csv"
    assert got.headers["content-disposition"] == f'attachment; filename="{name}"'
    asked = _asked(fake, "/v1/funnel")[-1]
    assert asked == {
        "start": "2026-10-01",
        "end": "2026-10-31",
        "tz": "Europe/Paris",
        "breakdown": "source",
        "format": "csv",
    }
    assert got.text.startswith("path,params\n/v1/funnel,")
    cohorts = client.get(f"/funnel/cohorts.csv?{PERIOD}&cohort=week&stage=customer")
    assert "leadflow-cohorts-by-week-2026-10-01" in cohorts.headers["content-disposition"]
    assert _asked(fake, "/v1/cohorts")[-1]["cohort"] == "week"


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("breakdown=country", "breakdown: 'country' is not one of (none), source, medium"),
        ("cohort=day", "cohort: 'day' is not one of month, week"),
        ("stage=subscriber", "stage: 'subscriber' is not one of lead, mql"),
    ],
)
def test_a_wrong_picker_is_a_400_naming_it(client: TestClient, query: str, problem: str) -> None:
    for path in ("/funnel", "/funnel/funnel.csv", "/funnel/cohorts.csv"):
        answer = client.get(f"{path}?{PERIOD}&{query}")
        if path == "/funnel/funnel.csv" and query.startswith("stage"):
            assert answer.status_code == 200  # the funnel takes no stage: it is ignored
            continue
        if path == "/funnel/funnel.csv" and query.startswith("cohort"):
            assert answer.status_code == 400
            continue
        if path == "/funnel/cohorts.csv" and query.startswith("breakdown"):
            assert answer.status_code == 200
            continue
        assert answer.status_code == 400, (path, query)
        assert problem in html.unescape(answer.text)


def test_a_report_reporting_refuses_says_why_in_its_section(client: TestClient) -> None:
    page = client.get("/funnel?start=2026-10-01&end=2026-10-31&tz=Mars/Base")
    assert page.status_code == 200
    assert page.text.count("is not an IANA time zone") == len(REPORT_KEYS)
    assert "Download CSV" not in page.text
