"""Erasure and IP rules of ingest's domain: who is refused, what is stored and published."""

from datetime import UTC, datetime

from services.ingest.domain.privacy import (
    ErasedIdentities,
    Erasure,
    subject_hashes,
    truncate_ip,
)
from shared.privacy import identity_hash

SECRET = "s3cret"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_ips_keep_their_network_only() -> None:
    assert truncate_ip("203.0.113.77") == "203.0.113.0"
    assert truncate_ip("2001:db8:85a3:8d3:1319:8a2e:370:7348") == "2001:db8:85a3::"
    assert truncate_ip("not an ip") == ""


def test_an_erasure_keeps_keyed_hashes_of_a_normalised_email_only() -> None:
    erasure = Erasure.new(SECRET, "ws_1", "u-7", "  Ada@Example.COM ")
    assert erasure.id.startswith("er_")
    assert erasure.email == "ada@example.com"
    assert erasure.hashes == [
        identity_hash(SECRET, "ws_1", "user", "u-7"),
        identity_hash(SECRET, "ws_1", "email", "ada@example.com"),
    ]
    assert erasure.by == ["user_id", "email"]
    assert "ada@example.com" not in "".join(erasure.hashes)


def test_an_erasure_by_email_alone_is_published_on_the_persons_partition() -> None:
    erasure = Erasure.new(SECRET, "ws_1", None, "bob@example.com")
    assert erasure.by == ["email"]
    event = erasure.event(NOW)
    assert event.type == "privacy.erasure_requested"
    assert (event.workspace_id, event.lead_key, event.occurred_at) == (
        "ws_1",
        "bob@example.com",
        NOW,
    )
    assert event.payload == {"erasure_id": erasure.id, "user_id": None, "email": "bob@example.com"}


def test_a_workspace_that_erased_nobody_pays_nothing() -> None:
    erased = ErasedIdentities(SECRET)
    erased.add("ws_1", subject_hashes(SECRET, "ws_1", "u-1", None))
    assert erased.check_for("ws_2") is None
    assert erased.check_for("ws_1") is not None


def test_an_erased_person_is_recognised_by_user_id_or_by_email_in_traits() -> None:
    erased = ErasedIdentities(SECRET)
    erased.add("ws_1", subject_hashes(SECRET, "ws_1", "u-1", "ada@example.com"))
    check = erased.check_for("ws_1")
    assert check is not None
    assert check({"userId": "u-1"})
    assert check({"anonymousId": "a", "traits": {"email": "ADA@example.com"}})
    assert check({"anonymousId": "a", "context": {"traits": {"email": "ada@example.com"}}})
    assert not check({"userId": "u-2", "traits": {"email": "bob@example.com"}})
    assert not check({"userId": "", "context": "not an object"})


def test_a_reload_replaces_what_was_known() -> None:
    erased = ErasedIdentities(SECRET)
    erased.add("ws_1", subject_hashes(SECRET, "ws_1", "u-1", None))
    erased.replace({"ws_2": set(subject_hashes(SECRET, "ws_2", "u-9", None))})
    assert erased.check_for("ws_1") is None
    check = erased.check_for("ws_2")
    assert check is not None
    assert check({"userId": "u-9"})
