"""The demo web site: a few pages of a made-up product ("Northwind") with LeadFlow's browser
tracker embedded, as a customer's site would have it. Page views are tracked by the tracker
itself; the demo form identifies the visitor and tracks `Requested Demo`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
PAGES = {
    "": ("home.html", "Northwind: lead scoring that explains itself"),
    "pricing": ("pricing.html", "Pricing"),
    "blog/lead-scoring-101": ("blog.html", "Lead scoring 101"),
    "guide": ("guide.html", "The five-minute guide"),
    "demo": ("demo.html", "Book a demo"),
}
TITLES = ("Engineer", "Marketing Manager", "Director of Sales", "VP Marketing", "CEO")


def create_site(ingest_url: str, write_key: str) -> FastAPI:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
    app = FastAPI(title="Northwind (LeadFlow demo site)", docs_url=None, redoc_url=None)

    @app.get("/{path:path}", response_class=HTMLResponse)
    def page(path: str) -> str:
        found = PAGES.get(path.strip("/"))
        if found is None:
            raise HTTPException(404, "no such page on the demo site")
        template, title = found
        return env.get_template(template).render(
            title=title,
            ingest=ingest_url.rstrip("/"),
            write_key=write_key,
            titles=TITLES,
            nav=[("/", "Home"), ("/pricing", "Pricing"), ("/blog/lead-scoring-101", "Blog")],
        )

    return app
