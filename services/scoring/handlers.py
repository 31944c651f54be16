"""What the scoring service does with a batch of events (one poll's, one transaction),
set-based: a few queries to load every lead the batch needs, the events applied in memory,
one model call for the whole batch, a few statements to write back.

HANDLERS says what each event type is to this service: behaviour (a person's touchpoint or
email event, applied to their lead), the erasure request (it cuts the batch), or claimed and
skipped (nurture's enrollment events share the email-events topic).

Pass 1 applies each event to its lead (stitching, traits, features) and notes the lead's
model input as of that event. The model scores all those inputs at once. Pass 2 walks the
events again, in order, with each one's score: the reaction to the new score
(domain/reaction.py) happens at the event that caused it, so a replay cut into other batches
makes the same moves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain.config import ScoringConfig
from services.scoring.domain.features import Vector, vector
from services.scoring.domain.identity import Identifier, identifiers_of
from services.scoring.domain.points import PointBook
from services.scoring.domain.reaction import (
    Factors,
    Outcome,
    adopt_stage,
    react_to_score,
    react_to_track,
)
from services.scoring.domain.records import Directory, LeadRecord
from services.scoring.domain.scorer import ModelBundle, Scores, factors, score_many
from services.scoring.store import erasure, store
from services.scoring.store.lead_cache import LeadCache
from services.scoring.workers.live_models import LiveModels
from shared.db import UnitOfWork
from shared.errors import PermanentError
from shared.events import EMAIL_TYPES, ENROLLMENT_TYPES, TOUCHPOINT_TYPES, Envelope, utcnow
from shared.events.types import EmailEvent, Grouped, Identified, Tracked

TIMELINE_SKIPS = ("context", "integrations")
YIELD_EVERY = 256  # events of pass 2 between two pauses (see _score_and_progress)


# --- what each event type is to scoring -----------------------------------------------------


def touchpoint_needs(e: Envelope) -> tuple[list[Identifier], str | None]:
    """A touchpoint is stitched to its lead by the identifiers it carries."""
    return identifiers_of(e.type, e.payload), None


def email_needs(e: Envelope) -> tuple[list[Identifier], str | None]:
    """An email event names its lead."""
    return [], e.data_as(EmailEvent).lead_id


def place_touchpoint(
    directory: Directory, e: Envelope, ids: list[Identifier]
) -> tuple[LeadRecord, list[LeadRecord]]:
    """The touchpoint's lead (created if new) and the leads it shows are the same person."""
    if not ids:
        raise PermanentError("touchpoint carries no identifier")
    return directory.place(e.workspace_id, ids, e.id, e.occurred_at)


def place_email(
    directory: Directory, e: Envelope, ids: list[Identifier]
) -> tuple[LeadRecord, list[LeadRecord]]:
    """The email event's lead, which must exist in the event's workspace."""
    lead_id = e.data_as(EmailEvent).lead_id
    record = directory.live(lead_id)
    if record is None or record.workspace_id != e.workspace_id:
        raise PermanentError(f"{e.type} for unknown lead {lead_id!r}")
    return record, []


Needs = Callable[[Envelope], tuple[list[Identifier], str | None]]
Place = Callable[[Directory, Envelope, list[Identifier]], tuple[LeadRecord, list[LeadRecord]]]


@dataclass(frozen=True)
class Behaviour:
    """A type of behaviour event, applied to its lead: `needs` says what to load for it (the
    identifiers it carries, or the lead it names), `place` finds its lead in what was loaded."""

    needs: Needs
    place: Place


# An erasure cuts the batch and erases a person; a skipped event is claimed, not applied.
Handler = Behaviour | Literal["erasure", "skip"]
TOUCHPOINT = Behaviour(touchpoint_needs, place_touchpoint)
EMAIL = Behaviour(email_needs, place_email)
HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(TOUCHPOINT_TYPES, TOUCHPOINT),
    **dict.fromkeys(EMAIL_TYPES, EMAIL),
    erasure.ERASURE: "erasure",
    # Nurture's enrollments share the email-events topic and say nothing of a person's
    # behaviour. Any other type (none is expected on these topics) is skipped likewise.
    **dict.fromkeys(ENROLLMENT_TYPES, "skip"),
}
BEHAVIOURS = {t: h for t, h in HANDLERS.items() if isinstance(h, Behaviour)}


@dataclass
class Step:
    """One event applied to its lead, waiting for its score."""

    record: LeadRecord
    envelope: Envelope
    vector: Vector
    identified: bool
    folded: list[LeadRecord]
    row: int = -1
    explained: Factors | None = None  # its factors, if they were worked out


@dataclass
class Loaded:
    """What a run of events needs from the database, loaded once."""

    directory: Directory
    configs: dict[str, ScoringConfig]
    bundles: dict[str, ModelBundle]
    points: PointBook


async def apply_and_commit(
    uow: UnitOfWork,
    envelopes: Sequence[Envelope],
    models: LiveModels,
    *,
    topic: str,
    secret: str,
    cache: LeadCache | None = None,
) -> None:
    """The consumer entry (main.py): apply_touchpoints in its own transaction (`uow`, not
    yet entered); the cache keeps the batch's lead records only once it has committed."""
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
    `cache.unstage()` if it failed (store/lead_cache.py)."""
    run: list[Envelope] = []
    erased = False
    apply = partial(_apply_run, uow, models=models, topic=topic, secret=secret, clock=clock)
    for e in await uow.claim_batch(envelopes):
        handler = HANDLERS.get(e.type, "skip")
        if isinstance(handler, Behaviour):
            run.append(e)
        elif handler == "erasure":
            # An erasure cuts the batch: what came before it is applied (then erased), what
            # comes after is checked against it.
            await apply(run, cache=cache)
            run = []
            await _lock_identities(uow.session, [e.workspace_id])
            await uow.emit(topic, *await erasure.erase(uow.session, e, secret))
            erased = True
    await apply(run, cache=cache)
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
    *,
    models: LiveModels,
    topic: str,
    secret: str,
    clock: Callable[[], datetime],
    cache: LeadCache | None = None,
) -> None:
    """Behaviour events between two erasures: load, pass 1, score and pass 2, write."""
    if not events:
        return
    session = uow.session
    await _lock_identities(session, sorted({e.workspace_id for e in events}))
    todo = await erasure.without_erased(session, events, secret)
    if not todo:
        return
    workspaces = sorted({e.workspace_id for e in todo})
    carried = [BEHAVIOURS[e.type].needs(e) for e in todo]
    loaded = await _load(session, models, todo, carried, workspaces, cache)
    steps = [_apply(loaded, e, ids) for e, (ids, _) in zip(todo, carried, strict=True)]
    # Every event has its lead now: the rows that only need that are written while this
    # process scores the batch (PostgreSQL's work on them overlaps pass 2's Python work).
    placed = asyncio.ensure_future(_write_placed(session, loaded, steps))
    try:
        outcome = await _score_and_progress(steps, loaded, workspaces)
    except BaseException:
        with contextlib.suppress(Exception):
            await placed  # the session must be idle before the caller rolls back
        raise
    await placed
    await _write_scored(uow, loaded.directory, outcome, topic=topic, now=clock(), cache=cache)


async def _load(
    session: AsyncSession,
    models: LiveModels,
    todo: Sequence[Envelope],
    carried: Sequence[tuple[list[Identifier], str | None]],
    workspaces: list[str],
    cache: LeadCache | None,
) -> Loaded:
    """The leads, configurations, models and rule ledgers the events need."""
    wanted: dict[str, set[Identifier]] = {}
    by_id: set[str] = set()
    for e, (ids, lead_id) in zip(todo, carried, strict=True):
        if lead_id is None:
            wanted.setdefault(e.workspace_id, set()).update(ids)
        else:
            by_id.add(lead_id)
    directory = await store.load_directory(session, wanted, by_id, cache)
    configs = await store.configs(session, workspaces)
    bundles = {ws: await models.bundle(session, configs[ws].model_version) for ws in workspaces}
    ruled = [r.id for r in directory.records.values() if configs[r.workspace_id].point_rules.rules]
    points = PointBook(configs, await store.ledger(session, ruled))
    return Loaded(directory, configs, bundles, points)


async def _write_placed(session: AsyncSession, loaded: Loaded, steps: list[Step]) -> None:
    """New identity links and conflicts, timeline rows, rule awards: known after pass 1."""
    await store.save_links(session, loaded.directory)
    await store.add_timeline(session, [_timeline_row(s) for s in steps])
    await store.add_ledger(session, loaded.points.new)


async def _write_scored(
    uow: UnitOfWork,
    directory: Directory,
    outcome: Outcome,
    *,
    topic: str,
    now: datetime,
    cache: LeadCache | None,
) -> None:
    """The leads, merges, stage history and events of pass 2; the cache staged."""
    session = uow.session
    changed = [r for r in directory.records.values() if r.changed]
    merged = bool(directory.merges)  # (save_merges clears them)
    await store.save_records(session, changed, now)
    await store.save_merges(session, directory)
    await store.add_stages(session, outcome.stages)
    await uow.emit(topic, *outcome.events)
    if cache is None:
        return
    if merged:
        # Merges re-point rows (a folded lead's earlier folds) with this transaction's
        # version behind any record of it staged so far, this run's or an earlier run's.
        cache.unstage()
        return
    # Rows written now carry this transaction's version; the others, the one loaded.
    versions = dict(directory.versions)
    version = await store.current_version(session)
    versions.update((r.id, version) for r in changed)
    cache.stage({r.id: (versions[r.id], r) for r in directory.records.values() if r.id in versions})


async def _score_and_progress(steps: list[Step], loaded: Loaded, workspaces: list[str]) -> Outcome:
    """One model call per workspace, then pass 2 in event order; pure computation, with a
    pause now and then so the placed rows' statements (_write_placed) go on meanwhile."""
    bundles, configs = loaded.bundles, loaded.configs
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
        record = loaded.directory.records[record_id]
        if not record.merged_into and s.explained is None:
            ws = record.workspace_id
            record.factors = _factors(bundles[ws], scores[ws], s)
        if k % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    return outcome


def _apply(loaded: Loaded, e: Envelope, ids: list[Identifier]) -> Step:
    """Pass 1: the event to its lead (placed by its type's handler), its traits, counters
    and rule points to the lead."""
    record, folded = BEHAVIOURS[e.type].place(loaded.directory, e, ids)
    traits = traits_of(e)
    if traits:
        record.traits = {**record.traits, **traits}
    record.seen(e.occurred_at)
    record.features.add(e.type, e.payload, e.occurred_at)
    record.changed = True
    step = Step(
        record=record,
        envelope=e,
        vector=vector(record.features, record.traits, record.fit_inputs()),
        identified=record.identified,
        folded=folded,
    )
    loaded.points.apply(record, folded, e)
    return step


def _progress(
    s: Step, scores: Scores, bundle: ModelBundle, config: ScoringConfig, out: Outcome
) -> None:
    """Pass 2: the event's score on its lead, and the reaction to it."""
    record, e = s.record, s.envelope
    for other in s.folded:
        adopt_stage(record, other, e.occurred_at, e.id, out)
    previous = record.score
    record.score = int(scores.score[s.row])
    record.probability = float(scores.probability[s.row])
    record.fit = int(scores.fit[s.row])
    record.engagement = int(scores.engagement[s.row])
    record.model_version = bundle.version
    record.scored_at = e.occurred_at
    # Decided per event (not per batch) so that a replay in other batches publishes the same.
    if react_to_score(
        record,
        previous=previous,
        identified=s.identified,
        config=config,
        at=e.occurred_at,
        cause=e.id,
        explain=partial(_factors, bundle, scores, s),
        out=out,
    ):
        s.explained = record.factors
    if e.type == "track":
        data = e.data_as(Tracked)
        react_to_track(
            record,
            data.event,
            data.properties,
            config=config,
            at=e.occurred_at,
            cause=e.id,
            out=out,
        )


def _factors(bundle: ModelBundle, scores: Scores, s: Step) -> Factors:
    # Dicts made directly (NamedTuple._asdict is slow): kept on the lead and published.
    return [
        {"name": f.name, "points": f.points, "text": f.text}
        for f in factors(bundle, scores, s.row, s.vector)
    ]


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
    if envelope.type == "identify":
        return dict(envelope.data_as(Identified).traits)
    if envelope.type == "group":
        group = envelope.data_as(Grouped)
        return {"company": {"id": group.group_id, **group.traits}}
    return {}
