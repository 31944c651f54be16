"""Workspace rules of ingest's domain: what a change sets, the state published for every
service, how keys are named in the audit log."""

from datetime import UTC, datetime

import pytest

from services.ingest.domain.workspaces import (
    Workspace,
    changes,
    normalize_origin,
    shown,
    state_event,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_a_change_sets_only_what_is_given() -> None:
    assert changes(name=None, allowed_origins=None, truncate_ip=None) == {}
    assert changes(name="Acme", allowed_origins=None, truncate_ip=False) == {
        "name": "Acme",
        "truncate_ip": False,
    }
    # An empty list is a change (any origin), not "leave as it is".
    assert changes(name=None, allowed_origins=[], truncate_ip=None) == {"allowed_origins": []}


def test_the_published_state_holds_key_hashes_by_kind_and_never_keys() -> None:
    workspace = Workspace("ws_1", "Acme", ["https://acme.example"], True, NOW)
    event = state_event(workspace, [("write", "h1"), ("api", "h2"), ("write", "h3")], NOW)
    assert (event.type, event.workspace_id, event.lead_key) == ("workspace.changed", "ws_1", "ws_1")
    assert event.payload == {
        "name": "Acme",
        "write_key_hashes": ["h1", "h3"],
        "api_key_hashes": ["h2"],
        "allowed_origins": ["https://acme.example"],
        "truncate_ip": True,
    }


def test_keys_are_named_by_their_first_characters() -> None:
    assert shown("wk_abcdefghijkl") == "wk_abcd…"


@pytest.mark.parametrize(
    ("given", "origin"),
    [
        ("https://WWW.Acme.example/", "https://www.acme.example"),
        ("https://acme.example:443", "https://acme.example"),
        ("http://localhost:8080", "http://localhost:8080"),
    ],
)
def test_origins_are_written_as_browsers_send_them(given: str, origin: str) -> None:
    assert normalize_origin(given) == origin


@pytest.mark.parametrize(
    "given", ["acme.example", "ftp://acme.example", "https://acme.example/path", "https://a:99999"]
)
def test_what_is_not_an_origin_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match=r"origin|port"):
        normalize_origin(given)
