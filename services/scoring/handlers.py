"""What the scoring service does with a batch of touchpoints (one partition's, one
transaction), set-based: a few queries to load every lead the batch needs, the events
applied in memory, one model call for the whole batch, a few statements to write back.

Pass 1 applies each event to its lead (stitching, traits, features) and notes the lead's
model input as of that event. The model scores all those inputs at once. Pass 2 walks the
events again, in order, with each one's score: lifecycle moves happen at the event that
caused them, so a replay cut into other batches makes the same moves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring import erasure, lifecycle, publishing, rules, store
from services.scoring.config import ScoringConfig
from services.scoring.features import Vector, vector
from services.scoring.identity import Identifier, identifiers_of
from services.scoring.lead_cache import LeadCache
from services.scoring.live_models import LiveModels
from services.scoring.records import Directory, LeadRecord
from services.scoring.rules import LedgerEntry
from services.scoring.scorer import ModelBundle, Scores, factors, score_many
from shared.db import UnitOfWork
from shared.errors import PermanentError
from shared.events import Envelope, utcnow
from shared.events.codec import Record

EMAIL_EVENTS = {
    "email.opened",
    "email.clicked",
    "email.sent",
    "email.bounced",
    "email.unsubscribed",
}
TOUCHPOINTS = {"track", "identify", "page", "screen", "group", "alias"}
APPLIED = TOUCHPOINTS | EMAIL_EVENTS
TIMELINE_SKIPS = ("context", "integrations")
YIELD_EVERY = 256  # events of pass 2 between two pauses (see _score_and_progress)


@dataclass
class Step:
    """One event applied to its lead, waiting for its score."""

    record: LeadRecord
    envelope: Envelope
    vector: Vector
    identified: bool
    folded: list[LeadRecord]
    row: int = -1
    explained: list[dict[str, Any]] | None = None  # its factors, if they were worked out


@dataclass
class Outcome:
    """What a batch produced besides lead rows (for the outbox and history tables)."""

    events: list[Record] = field(default_factory=list)  # encoded (publishing)
    stages: list[dict[str, Any]] = field(default_factory=list)


async def apply_and_commit(
    uow: UnitOfWork,
    envelopes: Sequence[Envelope],
    models: LiveModels,
    *,
    topic: str,
    secret: str,
    cache: LeadCache | None = None,
) -> None:
    """apply_touchpoints in its own transaction (`uow`, not yet entered); the cache keeps the
    batch's lead records only once that transaction has committed."""
    try:
        async with uow:
            await apply_touchpoints(uow, envelopes, models, topic=topic, secret=secret, cache=cache)
    except BaseException:
        if cache is not None:
            cache.unstage()
        raise
    if cache is not None:
        cache.commit()


async def apply_touchpoints(
    uow: UnitOfWork,
    envelopes: Sequence[Envelope],
    models: LiveModels,
    *,
    topic: str,
    secret: str,
    clock: Callable[[], datetime] = utcnow,
    cache: LeadCache | None = None,
) -> None:
    """Apply a batch; `secret` keys the hashes erased people are remembered by. With a
    cache, the caller calls `cache.commit()` once the transaction has committed, or
    `cache.unstage()` if it failed (lead_cache.py)."""
    run: list[Envelope] = []
    erased = False
    for e in await uow.claim_batch(envelopes):
        if e.type == erasure.ERASURE:
            # An erasure cuts the batch: what came before it is applied (then erased), what
            # comes after is checked against it.
            await _apply_run(uow, run, models, topic=topic, secret=secret, clock=clock, cache=cache)
            run = []
            await _lock_identities(uow.session, [e.workspace_id])
            await uow.emit(topic, *await erasure.erase(uow.session, e, secret))
            erased = True
        elif e.type in APPLIED:
            # Other services' events on the topics read here (e.g. nurture's enrollment.*
            # on email-events) say nothing about a person's behaviour: claimed, skipped.
            run.append(e)
    await _apply_run(uow, run, models, topic=topic, secret=secret, clock=clock, cache=cache)
    if erased and cache is not None:
        cache.unstage()  # erasure deleted rows behind records this batch holds


async def _lock_identities(session: AsyncSession, workspaces: Sequence[str]) -> None:
    # Identities of one person can arrive on two partitions (anonymous, then user key):
    # resolving a workspace's identities one transaction at a time keeps them consistent.
    for workspace_id in workspaces:
        await session.execute(
            select(func.pg_advisory_xact_lock(func.hashtext(f"identity:{workspace_id}")))
        )


async def _apply_run(
    uow: UnitOfWork,
    events: Sequence[Envelope],
    models: LiveModels,
    *,
    topic: str,
    secret: str,
    clock: Callable[[], datetime],
    cache: LeadCache | None = None,
) -> None:
    if not events:
        return
    session = uow.session
    workspaces = sorted({e.workspace_id for e in events})
    await _lock_identities(session, workspaces)
    todo = await erasure.without_erased(session, events, secret)
    if not todo:
        return
    workspaces = sorted({e.workspace_id for e in todo})
    wanted: dict[str, set[Identifier]] = {}
    by_id: set[str] = set()
    carried: list[list[Identifier]] = []  # each event's identifiers (none for email events)
    for e in todo:
        if e.type in EMAIL_EVENTS:
            by_id.add(str(e.payload.get("lead_id")))
            carried.append([])
        else:
            carried.append(identifiers_of(e.type, e.payload))
            wanted.setdefault(e.workspace_id, set()).update(carried[-1])
    directory = await store.load_directory(session, wanted, by_id, cache)
    configs = await store.configs(session, workspaces)
    bundles = {ws: await models.bundle(session, configs[ws].model_version) for ws in workspaces}
    points = PointBook(
        configs,
        await store.ledger(
            session,
            [r.id for r in directory.records.values() if configs[r.workspace_id].point_rules.rules],
        ),
    )

    steps = []
    for e, ids in zip(todo, carried, strict=True):
        step = _apply(directory, e, ids)
        points.apply(step)
        steps.append(step)
    # Every event has its lead now: the rows that only need that are written while this
    # process scores the batch (PostgreSQL's work on them overlaps pass 2's Python work).
    placed = asyncio.ensure_future(_write_placed(session, directory, steps, points))
    try:
        outcome = await _score_and_progress(steps, directory, workspaces, bundles, configs)
    except BaseException:
        with contextlib.suppress(Exception):
            await placed  # the session must be idle before the caller rolls back
        raise
    await placed
    changed = [r for r in directory.records.values() if r.changed]
    merged = bool(directory.merges)
    await store.save_records(session, changed, clock())
    await store.save_merges(session, directory)
    await store.add_stages(session, outcome.stages)
    await uow.emit(topic, *outcome.events)
    if cache is not None and merged:
        # Merges re-point rows (a folded lead's earlier folds) with this transaction's
        # version behind any record of it staged so far, this run's or an earlier run's.
        cache.unstage()
    elif cache is not None:
        # Rows written now carry this transaction's version; the others, the one loaded.
        versions = dict(directory.versions)
        version = await store.current_version(session)
        versions.update((r.id, version) for r in changed)
        cache.stage(
            {r.id: (versions[r.id], r) for r in directory.records.values() if r.id in versions}
        )


async def _write_placed(
    session: AsyncSession, directory: Directory, steps: list[Step], points: PointBook
) -> None:
    """New identity links and conflicts, timeline rows, rule awards: known after pass 1."""
    await store.save_links(session, directory)
    await store.add_timeline(session, [_timeline_row(s) for s in steps])
    await store.add_ledger(session, points.new)


async def _score_and_progress(
    steps: list[Step],
    directory: Directory,
    workspaces: list[str],
    bundles: dict[str, ModelBundle],
    configs: dict[str, ScoringConfig],
) -> Outcome:
    """One model call per workspace, then pass 2 in event order; pure computation, with a
    pause now and then so the placed rows' statements (_write_placed) go on meanwhile."""
    scores = {}
    for ws in workspaces:
        mine = [s for s in steps if s.envelope.workspace_id == ws]
        for i, s in enumerate(mine):
            s.row = i
        # Scored as of the event (a lead is never idle at its own event): a replay of the
        # same events gives the same scores whenever it runs.
        scores[ws] = score_many(bundles[ws], [s.vector for s in mine])
        await asyncio.sleep(0)

    outcome = Outcome()
    last_step: dict[str, Step] = {}
    for k, s in enumerate(steps, 1):
        ws = s.envelope.workspace_id
        _progress(s, scores[ws], bundles[ws], configs[ws], outcome)
        last_step[s.record.id] = s
        if k % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    for k, (record_id, s) in enumerate(last_step.items(), 1):
        record = directory.records[record_id]
        if not record.merged_into and s.explained is None:
            ws = record.workspace_id
            record.factors = _factors(bundles[ws], scores[ws], s)
        if k % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    return outcome


class PointBook:
    """Point rules (services/scoring/rules.py) applied to a batch's events: each lead's
    ledger, the entries to write, and the named scores on the lead."""

    def __init__(self, configs: dict[str, ScoringConfig], ledgers: dict[str, list[LedgerEntry]]):
        self.configs = configs
        self.ledgers = ledgers
        self.new: list[tuple[str, str, LedgerEntry]] = []

    def apply(self, step: Step) -> None:
        record, e = step.record, step.envelope
        ruleset = self.configs[record.workspace_id].point_rules
        if not ruleset.rules:
            return
        ledger = self.ledgers.setdefault(record.id, [])
        for other in step.folded:
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
        record.rule_scores = {
            name: round(value, 2)
            for name, value in rules.scores(ruleset, ledger, e.occurred_at).items()
        }


def _apply(directory: Directory, e: Envelope, ids: list[Identifier]) -> Step:
    """Pass 1: the event to its lead (stitched by `ids`, its identifiers), its traits and
    counters to the lead."""
    ws, payload = e.workspace_id, e.payload
    folded: list[LeadRecord] = []
    if e.type in EMAIL_EVENTS:
        record = directory.live(str(payload.get("lead_id")))
        if record is None or record.workspace_id != ws:
            raise PermanentError(f"{e.type} for unknown lead {payload.get('lead_id')!r}")
    else:
        if not ids:
            raise PermanentError("touchpoint carries no identifier")
        record, folded = directory.place(ws, ids, e.id, e.occurred_at)
    traits = traits_of(e)
    if traits:
        record.traits = {**record.traits, **traits}
    record.seen(e.occurred_at)
    record.features.add(e.type, payload, e.occurred_at)
    record.changed = True
    return Step(
        record=record,
        envelope=e,
        vector=vector(record.features, record.traits, record.fit_inputs()),
        identified=record.identified,
        folded=folded,
    )


def _progress(
    s: Step, scores: Scores, bundle: ModelBundle, config: ScoringConfig, out: Outcome
) -> None:
    """Pass 2: the event's score on its lead, and the lifecycle moves it causes."""
    record, e = s.record, s.envelope
    for other in s.folded:
        _adopt_stage(record, other, e, out)
    previous = record.score
    record.score = int(scores.score[s.row])
    record.probability = float(scores.probability[s.row])
    record.fit = int(scores.fit[s.row])
    record.engagement = int(scores.engagement[s.row])
    record.model_version = bundle.version
    record.scored_at = e.occurred_at
    # Decided per event (not per batch) so that a replay in other batches publishes the same.
    if record.published_score is None or (
        abs(record.score - record.published_score) >= config.score_change_to_publish
    ):
        record.factors = s.explained = _factors(bundle, scores, s)
        out.events.append(
            publishing.scored(record, e.occurred_at, publishing.event_id(record.id, "scored", e.id))
        )
        record.published_score = record.score
    moves = lifecycle.automatic(
        record.stage,
        identified=s.identified,
        score=record.score,
        fit=record.fit,
        previous_score=previous,
        config=config,
    )
    for move in moves:
        enter(record, move, actor="auto", at=e.occurred_at, cause=e.id, out=out)
    if e.type == "track":
        name = str(e.payload.get("event") or "")
        for move in lifecycle.on_event(record.stage, name, config):
            enter(
                record,
                move,
                actor="event",
                at=e.occurred_at,
                cause=e.id,
                out=out,
                amount=_amount(e),
            )


def _adopt_stage(record: LeadRecord, folded: LeadRecord, e: Envelope, out: Outcome) -> None:
    """A merged lead that had got further takes the survivor there."""
    out.events.append(
        publishing.merged(
            record, [folded.id], e.occurred_at, publishing.event_id(record.id, "merged", folded.id)
        )
    )
    if folded.stage and (
        record.stage is None or lifecycle.RANK[folded.stage] > lifecycle.RANK[record.stage]
    ):
        move = lifecycle.Move(
            record.stage, folded.stage, f"merged with {folded.id}, which was {folded.stage}"
        )
        enter(record, move, actor="merge", at=e.occurred_at, cause=e.id, out=out)


def enter(
    record: LeadRecord,
    move: lifecycle.Move,
    *,
    actor: str,
    at: datetime,
    cause: object,
    out: Outcome,
    amount: float | None = None,
) -> None:
    """Move a lead to a stage: its row, a history entry and one lead.lifecycle_changed."""
    eid = publishing.event_id(record.id, move.to_stage, cause)
    record.stage, record.stage_entered_at, record.stalled_at = move.to_stage, at, None
    record.changed = True
    out.stages.append(
        {
            "workspace_id": record.workspace_id,
            "lead_id": record.id,
            "stage": move.to_stage,
            "from_stage": move.from_stage,
            "entered_at": at,
            "reason": move.reason,
            "actor": actor,
            "score": record.score,
            "model_version": record.model_version,
            "event_id": eid,
        }
    )
    out.events.append(
        publishing.lifecycle_changed(
            record,
            from_stage=move.from_stage,
            to_stage=move.to_stage,
            reason=move.reason,
            actor=actor,
            at=at,
            eid=eid,
            amount=amount,
        )
    )


def _factors(bundle: ModelBundle, scores: Scores, s: Step) -> list[dict[str, Any]]:
    # Dicts made directly (NamedTuple._asdict is slow): kept on the lead and published.
    return [
        {"name": f.name, "points": f.points, "text": f.text}
        for f in factors(bundle, scores, s.row, s.vector)
    ]


def _amount(e: Envelope) -> float | None:
    props = e.payload.get("properties") or {}
    for key in ("amount", "revenue", "value"):
        value = props.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _timeline_row(s: Step) -> tuple[Any, ...]:
    """The event's row of store.TIMELINE_COLUMNS (made straight as COPY takes it)."""
    e = s.envelope
    payload = {k: v for k, v in e.payload.items() if k not in TIMELINE_SKIPS}
    return (
        e.id,
        e.workspace_id,
        s.record.merged_into or s.record.id,
        e.type,
        e.occurred_at,
        orjson.dumps(payload).decode(),
    )


def traits_of(envelope: Envelope) -> dict[str, Any]:
    """What an event tells of the person: identify traits; a group's traits as the company."""
    payload = envelope.payload
    if envelope.type == "identify":
        return dict(payload.get("traits") or {})
    if envelope.type == "group":
        return {"company": {"id": payload.get("group_id"), **(payload.get("traits") or {})}}
    return {}
