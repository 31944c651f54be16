"""Lead records kept in memory between batches, trusted only while their row is unchanged.

Most of a batch's leads were in the batch before. Loading one from its row means decoding
its JSON (90 days of counters) and building its record again, ~10% of the process's CPU
per event. The cache keeps the record a committed batch ended with, with the row version
it wrote (PostgreSQL's `xmin`, the id of the transaction that wrote the row). A batch locks
its leads' rows and reads their `xmin` first: a record is reused only if the row still
carries that version, so a write by anyone else (the API, the decay job, another scoring
process after a rebalance) is always seen. See docs/decisions/0042.

Records are handed out, not copied: a batch owns what it takes (`take` removes it), and
only `commit`, called once its transaction has committed, puts records back. A batch that
fails leaves nothing behind, whatever it did to the records in memory.
"""

from __future__ import annotations

from collections import OrderedDict

from services.scoring.domain.records import LeadRecord


class LeadCache:
    def __init__(self, max_leads: int) -> None:
        self.max_leads = max_leads
        self._entries: OrderedDict[str, tuple[str, LeadRecord]] = OrderedDict()
        self._staged: dict[str, tuple[str, LeadRecord]] = {}
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, lead_id: str, version: str) -> LeadRecord | None:
        """The record of this row version, now owned by the caller; None if not kept (or
        kept for another version, which is dropped)."""
        entry = self._entries.pop(lead_id, None)
        if entry is None or entry[0] != version:
            self.misses += 1
            return None
        self.hits += 1
        record = entry[1]
        # Derived from the identities, which other transactions may have changed.
        record.user_ids, record.anonymous_ids, record.user_ids_known = [], [], False
        return record

    def stage(self, records: dict[str, tuple[str, LeadRecord]]) -> None:
        """Records (id -> (row version, record)) to keep if the current batch commits."""
        self._staged.update(records)

    def unstage(self) -> None:
        """Keep nothing of the current batch (it failed, or changed rows behind its records)."""
        self._staged.clear()

    def commit(self) -> None:
        """The current batch committed: keep what it staged, most recent last."""
        for lead_id, entry in self._staged.items():
            self._entries.pop(lead_id, None)
            self._entries[lead_id] = entry
        self._staged.clear()
        while len(self._entries) > self.max_leads:
            self._entries.popitem(last=False)
