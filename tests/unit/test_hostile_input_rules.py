"""What the fuzzing and hostile-input tests found, pinned where it is decided (no servers)."""

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from services.ingest.domain import envelopes, messages, timing
from services.ingest.domain.envelopes import Request
from services.ingest.domain.limits import Limits
from services.nurture.domain.config import Address, NurtureConfig
from services.scoring.api.schemas import IsoDatetime
from services.scoring.domain.config import ScoringConfig
from shared.workspaces import WorkspaceInfo

LIMITS = Limits()


def problems(raw: object, kind: str | None = "track") -> dict[str, str]:
    return {p.field: p.message for p in messages.check(raw, kind=kind, limits=LIMITS)}


def test_a_nul_character_anywhere_in_an_event_is_refused() -> None:
    assert "(event)" in problems({"userId": "u", "event": "e", "properties": {"a": "x\x00y"}})
    assert "(event)" in problems({"userId": "u\x00", "event": "e"})
    # A backslash followed by the letters u0000 is text, not a NUL.
    assert problems({"userId": "u", "event": "e", "properties": {"a": "\\u0000"}}) == {}


@pytest.mark.parametrize("field", ["event", "name", "category", "writeKey"])
def test_text_fields_must_be_strings(field: str) -> None:
    raw = {"userId": "u", "event": "e", field: 5}
    assert problems(raw)[field] == "must be a string"


def test_a_batch_with_a_bad_sent_at_is_refused_whole() -> None:
    outcome = envelopes.batch(
        {"batch": [{"type": "track", "userId": "u", "event": "e"}], "sentAt": ""},
        workspace=WorkspaceInfo("ws_1", "Acme"),
        request=Request(datetime.now(UTC)),
        limits=LIMITS,
    )
    assert outcome.accepted == []
    assert outcome.rejected[0][0] == -1


@pytest.mark.parametrize("address", ["a;b@c.example", "ñ@example.com", "x@exämple.com"])
def test_nurture_refuses_addresses_the_mailer_cannot_write(address: str) -> None:
    with pytest.raises(ValidationError, match="not a mailable address"):
        TypeAdapter(Address).validate_python(address)


def test_nurture_takes_ordinary_addresses() -> None:
    assert TypeAdapter(Address).validate_python("ada.lovelace+news@acme.example")


@pytest.mark.parametrize(
    "change",
    [
        {"mql_sla_hours": 1e12},
        {"stage_max_days": {"sql": 1e9}},
    ],
)
def test_scoring_timers_are_bounded(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ScoringConfig.model_validate(change)


def test_nurture_send_deadline_is_bounded() -> None:
    with pytest.raises(ValidationError):
        NurtureConfig.model_validate({"send_deadline_hours": 1e12})


def test_query_date_times_are_iso_only() -> None:
    adapter = TypeAdapter(IsoDatetime)
    assert adapter.validate_python("2026-11-01T00:00:00Z") == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValidationError, match="ISO 8601"):
        adapter.validate_python("1.1412040332574365e-308")


def test_clocks_millennia_apart_do_not_overflow() -> None:
    raw = {"timestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T00:00:00Z"}
    assert timing.occurred_at(raw, datetime.now(UTC)) == datetime(1, 1, 1, tzinfo=UTC)


def test_a_long_cap_period_reads_back_in() -> None:
    """pydantic wrote 1,586 days as 'P4Y126D', which nurture's own parser refuses."""
    saved = NurtureConfig.model_validate({"caps": [{"max": 1, "per": "P1586D"}]})
    dumped = saved.model_dump(mode="json")
    assert dumped["caps"] == [{"max": 1, "per": "P1586D"}]
    assert NurtureConfig.model_validate(dumped) == saved


@pytest.mark.parametrize("per", [3517884127614455, "99999999999d", "P99999999999D"])
def test_a_cap_period_beyond_what_time_can_hold_is_refused(per: object) -> None:
    with pytest.raises(ValidationError, match="at most 10 years"):
        NurtureConfig.model_validate({"caps": [{"max": 1, "per": per}]})
