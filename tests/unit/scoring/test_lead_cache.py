"""The in-memory lead cache's rules (services/scoring/lead_cache.py), without a database."""

from __future__ import annotations

from datetime import UTC, datetime

from services.scoring.domain.features import FeatureState
from services.scoring.domain.records import LeadRecord
from services.scoring.store.lead_cache import LeadCache

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def lead(lead_id: str) -> LeadRecord:
    return LeadRecord(lead_id, "ws", {}, FeatureState(), T0, T0)


def test_a_record_is_kept_only_once_its_batch_committed() -> None:
    cache = LeadCache(10)
    cache.stage({"a": ("100", lead("a"))})
    assert cache.take("a", "100") is None  # staged, not committed
    cache.stage({"a": ("100", lead("a"))})
    cache.unstage()  # the batch failed
    cache.commit()
    assert len(cache) == 0
    record = lead("a")
    cache.stage({"a": ("100", record)})
    cache.commit()
    assert cache.take("a", "100") is record


def test_taking_hands_the_record_over_and_another_version_is_dropped() -> None:
    cache = LeadCache(10)
    record = lead("a")
    record.user_ids, record.user_ids_known = ["u-1"], True
    cache.stage({"a": ("100", record), "b": ("7", lead("b"))})
    cache.commit()
    taken = cache.take("a", "100")
    assert taken is record
    assert (taken.user_ids, taken.user_ids_known) == ([], False)  # worked out again per batch
    assert cache.take("a", "100") is None  # the batch owns it now
    assert cache.take("b", "8") is None  # the row was written by someone else
    assert cache.take("b", "7") is None  # ... and the stale record is gone
    assert (cache.hits, cache.misses) == (1, 3)


def test_the_least_recently_committed_records_go_first() -> None:
    cache = LeadCache(2)
    for name in ("a", "b", "c"):
        cache.stage({name: ("1", lead(name))})
        cache.commit()
    assert len(cache) == 2
    assert cache.take("a", "1") is None
    assert cache.take("b", "1") is not None
    assert cache.take("c", "1") is not None
