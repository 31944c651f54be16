from services.scoring.domain.artifacts import signature, verified


def test_an_artifact_verifies_only_under_the_secret_it_was_signed_with() -> None:
    signed = signature(b"model bytes", "secret-a")
    assert verified(b"model bytes", signed, "secret-a")
    assert not verified(b"model bytes", signed, "secret-b")
    assert not verified(b"other bytes", signed, "secret-a")
    assert not verified(b"model bytes", None, "secret-a")
    assert not verified(b"model bytes", "", "secret-a")
