"""Periodic work of the scoring service: decay, stalled leads, anonymous purge.

- Decay: a lead's engagement fades as days pass even when nothing happens (windows empty,
  recency-weighted counts halve every half-life), so leads not scored for a while are
  scored again as of now; those whose score changed are written and published, and
  lifecycle moves fire from it like from an event. A newly promoted model reaches idle
  leads the same way.
- Stalled: an MQL sales has not acted on within the workspace's SLA, or a lead in a stage
  longer than that stage's limit, gets one `lead.stalled` per stage entry.
- Purge: anonymous leads never identified and not seen for the retention are deleted.

Rows are claimed with FOR UPDATE SKIP LOCKED: several scoring processes share the work and
the job never waits on a batch being applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import delete, or_, select, tuple_

from services.scoring.domain import publishing
from services.scoring.domain.config import ScoringConfig
from services.scoring.domain.features import Vector, vector
from services.scoring.domain.lifecycle import STALLABLE, overstayed
from services.scoring.domain.points import rule_scores
from services.scoring.domain.reaction import Factors, Outcome, react_to_score, rescore_changes
from services.scoring.domain.records import LeadRecord
from services.scoring.domain.rules import LedgerEntry
from services.scoring.domain.scorer import ModelBundle, Scores, factors, score_many
from services.scoring.settings import ScoringSettings
from services.scoring.store import store
from services.scoring.store.tables import identities, lead_events, lead_stages, leads, rule_ledger
from services.scoring.workers.live_models import LiveModels, Pausing
from shared.db import UnitOfWork
from shared.events import utcnow

log = logging.getLogger(__name__)
DECAY_HORIZON_DAYS = 365
RESCORE_PER_ROUND = 5000  # after a year idle, engagement has long faded: stop re-checking


async def rescore_due(
    uow: UnitOfWork,
    models: LiveModels,
    *,
    topic: str,
    now: datetime,
    stale_before: datetime,
    limit: int = 500,
) -> int:
    """Score again, as of now, up to `limit` leads last scored before `stale_before` (or by
    another model than the live one); returns how many were looked at."""
    session = uow.session
    ids = await _due(uow, models.live.version, now=now, stale_before=stale_before, limit=limit)
    if not ids:
        return 0
    records = await store.load_records(session, ids)
    configs = await store.configs(session, {r.workspace_id for r in records})
    ledgers = await store.ledger(
        session, [r.id for r in records if configs[r.workspace_id].point_rules.rules]
    )
    outcome = Outcome()
    for workspace_id, config in configs.items():
        bundle = await models.bundle(session, config.model_version)
        mine = [r for r in records if r.workspace_id == workspace_id]
        _rescore(mine, bundle, config, ledgers, now=now, out=outcome)
    await store.save_records(session, records, now)
    await store.add_stages(session, outcome.stages)
    await uow.emit(topic, *outcome.events)
    return len(records)


async def _due(
    uow: UnitOfWork, live: str, *, now: datetime, stale_before: datetime, limit: int
) -> list[str]:
    """Claims (FOR UPDATE SKIP LOCKED) the leads due for a rescore, longest unscored first."""
    due = or_(
        leads.c.scored_at.is_(None),
        leads.c.scored_at < stale_before,
        (leads.c.model_version.is_distinct_from(live))
        & (leads.c.scored_at < now - timedelta(minutes=10)),
    )
    query = (
        select(leads.c.id)
        .where(
            leads.c.merged_into.is_(None),
            leads.c.last_seen_at > now - timedelta(days=DECAY_HORIZON_DAYS),
            due,
        )
        .order_by(leads.c.scored_at.nulls_first())
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await uow.session.execute(query)).scalars())


def _rescore(
    records: list[LeadRecord],
    bundle: ModelBundle,
    config: ScoringConfig,
    ledgers: dict[str, list[LedgerEntry]],
    *,
    now: datetime,
    out: Outcome,
) -> None:
    """One workspace's leads scored as of now (idle days fade engagement), and the reaction
    to each new score (domain/reaction.py), as a touchpoint's would be."""
    rows = [vector(r.features, r.traits) for r in records]
    idle = [(now - r.last_seen_at).total_seconds() / 86400 for r in records]
    scores = score_many(bundle, rows, idle, config.engagement_half_life_days)
    cause = f"rescore:{now.isoformat()}"
    for i, record in enumerate(records):
        record.changed = True
        record.scored_at = now
        if config.point_rules.rules:  # rule points fade too
            record.rule_scores = rule_scores(config.point_rules, ledgers.get(record.id, []), now)
        new = (int(scores.score[i]), int(scores.fit[i]), int(scores.engagement[i]))
        if not rescore_changes(record, new, bundle.version):
            continue
        previous = record.score
        record.score, record.fit, record.engagement = new
        record.probability = float(scores.probability[i])
        record.model_version = bundle.version
        explain = partial(_factor_rows, bundle, scores, i, rows[i])
        if not react_to_score(
            record,
            previous=previous,
            identified=record.identified,
            config=config,
            at=now,
            cause=cause,
            explain=explain,
            out=out,
        ):
            record.factors = explain()


def _factor_rows(bundle: ModelBundle, scores: Scores, i: int, row: Vector) -> Factors:
    return [
        {"name": f.name, "points": f.points, "text": f.text}
        for f in factors(bundle, scores, i, row)
    ]


async def flag_stalled(
    uow: UnitOfWork, *, topic: str, now: datetime, page: int = 2000, max_pages: int = 50
) -> int:
    """One `lead.stalled` per stage entry that overstayed; returns how many.

    Candidates are read page by page (oldest stage entry first), a few columns each: leads
    whose stage has no limit in their workspace stay candidates and must not hide the ones
    behind them. Only the leads that did stall are loaded and locked."""
    session = uow.session
    flagged = 0
    after: tuple[datetime, str] | None = None
    for _ in range(max_pages):
        query = (
            select(leads.c.id, leads.c.workspace_id, leads.c.stage, leads.c.stage_entered_at)
            .where(
                leads.c.merged_into.is_(None),
                leads.c.stalled_at.is_(None),
                leads.c.stage.in_(STALLABLE),
                leads.c.stage_entered_at < now - timedelta(minutes=1),
            )
            .order_by(leads.c.stage_entered_at, leads.c.id)
            .limit(page)
        )
        if after is not None:
            query = query.where(tuple_(leads.c.stage_entered_at, leads.c.id) > after)
        rows = (await session.execute(query)).all()
        if not rows:
            break
        after = (rows[-1].stage_entered_at, rows[-1].id)
        configs = await store.configs(session, {r.workspace_id for r in rows})
        due = {
            r.id: reason
            for r in rows
            if (reason := overstayed(r.stage, r.stage_entered_at, configs[r.workspace_id], now))
        }
        if due:
            flagged += await _flag(uow, list(due), configs, topic=topic, now=now)
        if len(rows) < page:
            break
    return flagged


async def _flag(
    uow: UnitOfWork,
    ids: list[str],
    configs: dict[str, ScoringConfig],
    *,
    topic: str,
    now: datetime,
) -> int:
    events, stalled = [], []
    for record in await store.load_records(uow.session, ids):
        # Checked again under the row lock: a sales action may have moved the lead meanwhile.
        if record.id not in ids or record.stalled_at is not None or record.stage is None:
            continue
        assert record.stage_entered_at is not None
        reason = overstayed(
            record.stage, record.stage_entered_at, configs[record.workspace_id], now
        )
        if reason is not None:
            record.stalled_at = now
            record.changed = True
            stalled.append(record)
            events.append(publishing.stalled(record, reason, now))
    await store.save_records(uow.session, stalled, now)
    await uow.emit(topic, *events)
    return len(stalled)


async def purge_anonymous(uow: UnitOfWork, *, older_than: datetime, limit: int = 1000) -> int:
    """Delete never-identified leads last seen before `older_than`, with their history."""
    session = uow.session
    ids = list(
        (
            await session.execute(
                select(leads.c.id)
                .where(
                    leads.c.merged_into.is_(None),
                    leads.c.identified.is_(False),
                    leads.c.last_seen_at < older_than,
                )
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    if not ids:
        return 0
    folded = select(leads.c.id).where(leads.c.merged_into.in_(ids)).scalar_subquery()
    for table in (identities, lead_events, lead_stages, rule_ledger):
        await session.execute(delete(table).where(table.c.lead_id.in_(ids)))
    await session.execute(delete(leads).where(or_(leads.c.id.in_(ids), leads.c.id.in_(folded))))
    return len(ids)


async def run_forever(
    make_uow: Callable[[], UnitOfWork],
    models: LiveModels,
    settings: ScoringSettings,
    topic: str,
    runtime: Pausing,
) -> None:
    """Every minute or so: decay, then stalled leads, then the purge; returns on stop."""
    while True:
        try:
            await run_once(make_uow, models, settings, topic, utcnow(), runtime)
        except Exception:  # the next round tries again; a blip must not stop the job
            log.exception("scoring maintenance failed")
        if await runtime.pause(settings.maintenance_every_seconds):
            return


async def run_once(
    make_uow: Callable[[], UnitOfWork],
    models: LiveModels,
    settings: ScoringSettings,
    topic: str,
    now: datetime,
    runtime: Pausing | None = None,
) -> dict[str, int]:
    done = {"rescored": 0, "stalled": 0, "purged": 0}
    stale_before = now - timedelta(hours=settings.rescore_after_hours)
    # At most RESCORE_PER_ROUND leads a round: after a backfill of old events every lead is
    # due at once, and the job must not starve the consumer (the rest waits a round).
    while done["rescored"] < RESCORE_PER_ROUND:
        async with make_uow() as uow:
            n = await rescore_due(uow, models, topic=topic, now=now, stale_before=stale_before)
        done["rescored"] += n
        if n == 0 or (runtime is not None and await runtime.pause(0)):
            break
    if runtime is not None and await runtime.pause(0):
        return done
    async with make_uow() as uow:
        done["stalled"] = await flag_stalled(uow, topic=topic, now=now)
    if runtime is not None and await runtime.pause(0):
        return done
    older = now - timedelta(days=settings.anonymous_retention_days)
    async with make_uow() as uow:
        done["purged"] = await purge_anonymous(uow, older_than=older)
    if any(done.values()):
        log.info("scoring maintenance", extra={"done": done})
    return done
