"""CORS preflights grant only origins some workspace allows (issue 22, item 10b)."""

import httpx
from fastapi import FastAPI

from services.ingest.api import tracking
from services.ingest.api.tracking import preflight_headers
from shared.workspaces import WorkspaceDirectory
from tests.unit.ingest.test_auth_and_keys import change

SHOP = "https://shop.example"
EVIL = "https://evil.example"


def _directory(*origin_lists: list[str]) -> WorkspaceDirectory:
    directory = WorkspaceDirectory()
    for i, origins in enumerate(origin_lists):
        directory.apply(change(f"ws_{i}", write=[f"wk_{i}"], api=[], origins=origins))
    return directory


def test_an_origin_no_workspace_allows_is_not_granted() -> None:
    directory = _directory([SHOP], ["https://other.example"])
    assert not directory.origin_allowed_anywhere(EVIL)
    assert "Access-Control-Allow-Origin" not in preflight_headers(EVIL, directory)
    assert preflight_headers(EVIL, directory)["Vary"] == "Origin"
    granted = preflight_headers(SHOP, directory)
    assert granted["Access-Control-Allow-Origin"] == SHOP
    assert "Authorization" in granted["Access-Control-Allow-Headers"]


def test_a_workspace_without_a_list_allows_any_origin() -> None:
    assert _directory([SHOP], []).origin_allowed_anywhere(EVIL)
    assert not _directory().origin_allowed_anywhere(EVIL)  # no workspace: nobody


def test_the_grant_follows_changes_and_deletions() -> None:
    directory = _directory([SHOP])
    directory.apply(change("ws_0", write=["wk_0"], api=[], origins=["https://new.example"]))
    assert not directory.origin_allowed_anywhere(SHOP)
    assert directory.origin_allowed_anywhere("https://new.example")
    directory.apply(change("ws_1", write=["wk_1"], api=[], origins=[]))
    assert directory.origin_allowed_anywhere(EVIL)
    directory.apply(change("ws_1", write=[], api=[], deleted=True))
    assert not directory.origin_allowed_anywhere(EVIL)
    directory.apply(change("ws_0", write=[], api=[], deleted=True))
    assert not directory.origin_allowed_anywhere("https://new.example")


async def test_the_preflight_route_answers_by_the_directory() -> None:
    """The route itself, on a bare app holding only what the preflight reads."""
    app = FastAPI()
    app.include_router(tracking.router)
    directory = _directory([SHOP])
    app.dependency_overrides[tracking.ingest_state] = lambda: _State(directory)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        asked = {"Access-Control-Request-Method": "POST"}
        evil = await client.options("/v1/batch", headers={"Origin": EVIL, **asked})
        shop = await client.options("/v1/batch", headers={"Origin": SHOP, **asked})
    assert evil.status_code == 204
    assert "access-control-allow-origin" not in evil.headers
    assert shop.headers["access-control-allow-origin"] == SHOP


class _State:
    def __init__(self, directory: WorkspaceDirectory) -> None:
        self.directory = directory
