"""Point rules (rules.py) applied to a batch's events in order: each lead's ledger, the
entries to write, and the named scores kept on the lead (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.scoring.domain import rules
from services.scoring.domain.config import ScoringConfig
from services.scoring.domain.records import LeadRecord
from services.scoring.domain.rules import LedgerEntry, RuleSet
from shared.events import Envelope


def rule_scores(ruleset: RuleSet, ledger: Sequence[LedgerEntry], now: datetime) -> dict[str, float]:
    """The named scores kept on the lead: each rule score at `now`, to 2 decimals."""
    return {name: round(value, 2) for name, value in rules.scores(ruleset, ledger, now).items()}


class PointBook:
    """The ledgers of a batch's leads, loaded once, extended event by event."""

    def __init__(self, configs: dict[str, ScoringConfig], ledgers: dict[str, list[LedgerEntry]]):
        self.configs = configs
        self.ledgers = ledgers
        self.new: list[tuple[str, str, LedgerEntry]] = []  # (workspace, lead, entry) to write

    def apply(self, record: LeadRecord, folded: Sequence[LeadRecord], e: Envelope) -> None:
        """One event of `record`'s (which has just absorbed `folded`, their ledgers too)."""
        ruleset = self.configs[record.workspace_id].point_rules
        if not ruleset.rules:
            return
        ledger = self.ledgers.setdefault(record.id, [])
        for other in folded:
            ledger.extend(self.ledgers.pop(other.id, []))
        entries = rules.evaluate(
            ruleset,
            ledger,
            event_type=e.type,
            payload=e.payload,
            traits=record.traits,
            event_id=str(e.id),
            at=e.occurred_at,
        )
        ledger.extend(entries)
        self.new.extend((record.workspace_id, record.id, entry) for entry in entries)
        record.rule_scores = rule_scores(ruleset, ledger, e.occurred_at)
