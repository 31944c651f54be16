"""What a poll's lead events (leadflow.lead-events) change in the lead read models: stage
moves, identity keys pointing at leads, and leads folded into others. Events name leads as
scoring knew them; a lead already merged away stands for the one it was merged into."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from services.reporting.domain.keys import lead_keys
from services.reporting.domain.pseudonyms import Pseudonymize
from services.reporting.domain.stages import LeadRef, Move
from shared.events import Envelope
from shared.events.types import LeadFacts, LeadLifecycleChanged, LeadMerged


@dataclass
class LeadChanges:
    moves: list[Move] = field(default_factory=list)  # stage entries, in event order
    links: dict[tuple[str, str], str] = field(default_factory=dict)  # (ws, stored key) -> lead
    merges: list[tuple[str, str, str]] = field(default_factory=list)  # ws, into, folded

    def linked_leads(self) -> set[LeadRef]:
        """The leads keys were pointed at."""
        return {(ws, lead) for (ws, _), lead in self.links.items()}


def named_leads(events: Iterable[Envelope]) -> set[LeadRef]:
    """(workspace, lead) of every event naming a lead."""
    out = set()
    for e in events:
        data = e.data
        if isinstance(data, LeadFacts | LeadMerged) and data.lead_id:
            out.add((e.workspace_id, data.lead_id))
    return out


def lead_changes(
    events: Iterable[Envelope], redirect: Mapping[LeadRef, str], pseudonymize: Pseudonymize
) -> LeadChanges:
    """The changes of these events, `redirect` giving the lead each merged lead went into.
    Every event carrying the lead's facts (scored, lifecycle changed, stalled) points the
    lead's keys at it (a later event of the poll wins a key); a lifecycle change is a stage
    entry; lead.merged folds the leads it names into its lead."""
    out = LeadChanges()
    for e in events:
        data, ws = e.data, e.workspace_id
        if isinstance(data, LeadFacts):
            lead = redirect.get((ws, data.lead_id), data.lead_id)
            if isinstance(data, LeadLifecycleChanged):
                out.moves.append((ws, lead, data.to_stage, e.occurred_at, data.amount))
            if data.lead_id:
                for key in lead_keys(data):
                    out.links[(ws, pseudonymize(ws, key))] = lead
        elif isinstance(data, LeadMerged):
            into = redirect.get((ws, data.lead_id), data.lead_id)
            out.merges += [(ws, into, folded) for folded in data.merged_lead_ids]
    return out
