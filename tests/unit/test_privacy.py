"""Identifiers are kept only as keyed hashes: stable, per workspace, per secret."""

from __future__ import annotations

from services.reporting.domain.pseudonyms import pseudonymizer
from shared.privacy import identity_hash, normalize_email


def test_a_keyed_hash_depends_on_secret_workspace_kind_and_value() -> None:
    one = identity_hash("s", "ws_1", "email", "ada@x.io")
    assert one == identity_hash("s", "ws_1", "email", "ada@x.io")
    assert (
        len(
            {
                one,
                identity_hash("t", "ws_1", "email", "ada@x.io"),
                identity_hash("s", "ws_2", "email", "ada@x.io"),
                identity_hash("s", "ws_1", "user", "ada@x.io"),
                identity_hash("s", "ws_1", "email", "bob@x.io"),
            }
        )
        == 5
    )
    assert "ada" not in one


def test_reporting_stores_identity_keys_as_pseudonyms_but_lead_ids_as_they_are() -> None:
    stored = pseudonymizer("s")
    assert stored("ws_1", "lead:ld_1") == "lead:ld_1"
    key = stored("ws_1", "email:ada@x.io")
    assert key.startswith("email:")
    assert "ada" not in key
    assert key == stored("ws_1", "email:ada@x.io") != stored("ws_2", "email:ada@x.io")


def test_emails_compare_trimmed_and_lower_cased() -> None:
    assert normalize_email(" Ada@X.io ") == "ada@x.io"
    assert normalize_email("not an email") is None
    assert normalize_email(42) is None
