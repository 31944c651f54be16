"""Leads of one batch, in memory: loaded at once, changed event by event, saved at once.

`Directory` is the identities the batch needs (each workspace's identifier -> lead) plus the
lead records they point at; it applies identity stitching (identity.resolve) without a
round trip per event and remembers what to write back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.scoring.domain.features import FeatureState, FitInputs, fit_vector
from services.scoring.domain.identity import Conflict, Identifier, resolve

# A lead's id comes from the event that created it, so a replay gives the same ids.
_LEAD_IDS = uuid.UUID("6c0d1f5e-4b55-4d43-9a59-9c2b9f0d2a11")


def lead_id_for(event_id: uuid.UUID) -> str:
    return "ld_" + uuid.uuid5(_LEAD_IDS, str(event_id)).hex[:16]


@dataclass
class LeadRecord:
    id: str
    workspace_id: str
    traits: dict[str, Any]
    features: FeatureState
    first_seen_at: datetime
    last_seen_at: datetime
    merged_into: str | None = None
    stage: str | None = None
    stage_entered_at: datetime | None = None
    stalled_at: datetime | None = None
    identified: bool = False
    score: int | None = None
    probability: float | None = None
    fit: int | None = None
    engagement: int | None = None
    model_version: str | None = None
    factors: list[dict[str, Any]] = field(default_factory=list)
    scored_at: datetime | None = None
    published_score: int | None = None
    rule_scores: dict[str, float] = field(default_factory=dict)
    is_new: bool = False
    changed: bool = False
    fit_cache: tuple[dict[str, Any], FitInputs] | None = None  # (traits, fit_vector)
    user_ids: list[str] = field(default_factory=list)  # known userIds (set by the Directory)
    anonymous_ids: list[str] = field(default_factory=list)  # known anonymousIds (likewise)
    user_ids_known: bool = False  # user_ids worked out (a lead loaded from the database: not yet)

    def fit_inputs(self) -> FitInputs:
        """features.fit_vector of the current traits, worked out once per traits change."""
        if self.fit_cache is None or self.fit_cache[0] is not self.traits:
            self.fit_cache = (self.traits, fit_vector(self.traits))
        return self.fit_cache[1]

    def seen(self, at: datetime) -> None:
        # (What min() and max() keep, including which of two equal instants, without calls.)
        if at < self.first_seen_at:
            self.first_seen_at = at
        if at > self.last_seen_at:
            self.last_seen_at = at

    def absorb(self, other: LeadRecord) -> None:
        """Take in another lead's history and traits (this one's traits win)."""
        self.features.merge(other.features)
        self.traits = {**other.traits, **self.traits}
        self.seen(other.first_seen_at)
        self.seen(other.last_seen_at)
        self.identified = self.identified or other.identified
        other.merged_into = self.id
        other.changed = True
        self.changed = True


@dataclass
class Merge:
    workspace_id: str
    into: str
    folded: str


@dataclass
class Directory:
    """Identities and lead records of a batch (several workspaces)."""

    records: dict[str, LeadRecord] = field(default_factory=dict)
    owner: dict[tuple[str, Identifier], str] = field(default_factory=dict)
    ids_of: dict[str, set[Identifier]] = field(default_factory=dict)
    new_links: list[tuple[str, Identifier, str]] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    conflicts: list[tuple[str, str, Conflict, uuid.UUID]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)  # row versions as loaded (xmin)

    def add_identity(self, workspace_id: str, identifier: Identifier, lead_id: str) -> None:
        self.owner[(workspace_id, identifier)] = lead_id
        self.ids_of.setdefault(lead_id, set()).add(identifier)

    def live(self, lead_id: str) -> LeadRecord | None:
        record = self.records.get(lead_id)
        while record is not None and record.merged_into:
            record = self.records.get(record.merged_into)
        return record

    def place(
        self, workspace_id: str, ids: Iterable[Identifier], event_id: uuid.UUID, at: datetime
    ) -> tuple[LeadRecord, list[LeadRecord]]:
        """The lead an event with these identifiers belongs to (created if new), and the
        leads folded into it because the event shows they are one person."""
        ids = list(ids)
        owned = [self.owner.get((workspace_id, identifier)) for identifier in ids]
        if owned and owned[0] is not None and owned.count(owned[0]) == len(owned):
            # The common case: every identifier already belongs to this one lead.
            record = self.records[owned[0]]
            if not record.user_ids_known:
                known = self.ids_of.get(record.id, set())
                record.user_ids = sorted(i.value for i in known if i.kind == "user")
                record.anonymous_ids = sorted(i.value for i in known if i.kind == "anonymous")
                record.user_ids_known = True
            return record, []
        owners = {}
        for identifier, lead_id in zip(ids, owned, strict=True):
            if lead_id is not None:
                owners[identifier] = (lead_id, frozenset(self.ids_of.get(lead_id, ())))
        resolution = resolve(ids, owners)
        if resolution.lead_id is None:
            record = LeadRecord(
                id=lead_id_for(event_id),
                workspace_id=workspace_id,
                traits={},
                features=FeatureState(),
                first_seen_at=at,
                last_seen_at=at,
                is_new=True,
                changed=True,
            )
            self.records[record.id] = record
        else:
            record = self.records[resolution.lead_id]
        for identifier in sorted(resolution.link):
            self.add_identity(workspace_id, identifier, record.id)
            self.new_links.append((workspace_id, identifier, record.id))
        folded = []
        for other_id in resolution.merge:
            other = self.records[other_id]
            record.absorb(other)
            for identifier in self.ids_of.pop(other_id, set()):
                self.add_identity(workspace_id, identifier, record.id)
            self.merges.append(Merge(workspace_id, record.id, other_id))
            folded.append(other)
        for conflict in resolution.conflicts:
            self.conflicts.append((workspace_id, record.id, conflict, event_id))
        known = self.ids_of.get(record.id, set())
        if any(i.kind in ("user", "email") for i in known):
            record.identified = True
        record.user_ids = sorted(i.value for i in known if i.kind == "user")
        record.anonymous_ids = sorted(i.value for i in known if i.kind == "anonymous")
        record.user_ids_known = True
        return record, folded
