import base64
from datetime import UTC, datetime

import pytest

from services.ingest.api.deps import authenticate
from services.ingest.domain.auth import AuthError, write_key_of
from shared.email_links import EmailLink, InvalidToken, sign, verify
from shared.events import Envelope
from shared.workspaces import WorkspaceDirectory, hash_key, new_key


def change(
    ws_id: str,
    *,
    write: list[str],
    api: list[str],
    deleted: bool = False,
    origins: list[str] | None = None,
) -> Envelope:
    return Envelope(
        type="workspace.changed",
        workspace_id=ws_id,
        lead_key=ws_id,
        occurred_at=datetime.now(UTC),
        payload={
            "name": ws_id,
            "write_key_hashes": [hash_key(k) for k in write],
            "api_key_hashes": [hash_key(k) for k in api],
            "allowed_origins": origins or [],
            "deleted": deleted,
        },
    )


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def test_keys_are_random_prefixed_and_stored_as_hashes() -> None:
    write, api = new_key("write"), new_key("api")
    assert write.startswith("wk_")
    assert api.startswith("sk_")
    assert new_key("write") != write
    assert len(hash_key(write)) == 64
    assert write not in hash_key(write)


def test_the_write_key_comes_from_basic_auth_or_the_body() -> None:
    assert write_key_of(basic("wk_abc"), None) == "wk_abc"
    assert write_key_of(None, {"writeKey": "wk_body"}) == "wk_body"
    assert write_key_of(None, {"batch": []}) is None
    with pytest.raises(AuthError, match="malformed"):
        write_key_of("Basic %%%", None)


def test_directory_follows_rotation_and_deletion() -> None:
    directory = WorkspaceDirectory()
    directory.apply(change("ws_a", write=["wk_old"], api=["sk_secret"]))
    assert authenticate(basic("wk_old"), None, directory).id == "ws_a"
    directory.apply(change("ws_a", write=["wk_new"], api=["sk_secret"]))
    with pytest.raises(AuthError, match="invalid write key"):
        authenticate(basic("wk_old"), None, directory)
    assert authenticate(None, {"writeKey": "wk_new"}, directory).id == "ws_a"
    with pytest.raises(AuthError, match="an API key cannot send events"):
        authenticate(basic("sk_secret"), None, directory)
    directory.apply(change("ws_a", write=["wk_new"], api=[], deleted=True))
    assert directory.by_write_key("wk_new") is None
    with pytest.raises(AuthError, match="missing write key"):
        authenticate(None, {}, directory)


def test_allowed_origins() -> None:
    directory = WorkspaceDirectory()
    directory.apply(change("ws_o", write=["wk_o"], api=[], origins=["https://shop.example"]))
    ws = directory.by_write_key("wk_o")
    assert ws is not None
    assert ws.origin_allowed("https://shop.example")
    assert not ws.origin_allowed("https://evil.example")
    assert ws.origin_allowed(None)  # servers send no Origin


def test_email_link_tokens_cannot_be_forged_or_retargeted() -> None:
    link = EmailLink(
        "ws", "lead-key", "lead-1", "send-1", "seq-1", "step-1", "https://acme.example/case-study"
    )
    token = sign(link, "secret")
    assert verify(token, "secret") == link
    with pytest.raises(InvalidToken):
        verify(token, "another secret")
    forged = sign(
        EmailLink("ws", "lead-key", "lead-1", "send-1", url="https://evil.example"), "guess"
    )
    with pytest.raises(InvalidToken):
        verify(forged, "secret")
    with pytest.raises(InvalidToken):
        verify(token[:-3] + "abc", "secret")
