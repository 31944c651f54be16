"""Loading a batch's leads in a few queries and writing them back in a few statements.

Everything runs inside the caller's transaction. Lead rows are locked (FOR UPDATE, in id
order) so a sales action through the API or the decay job never interleaves with a batch.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain.config import ScoringConfig
from services.scoring.domain.features import FeatureState
from services.scoring.domain.identity import Identifier
from services.scoring.domain.records import Directory, LeadRecord
from services.scoring.domain.rules import LedgerEntry
from services.scoring.store.lead_cache import LeadCache
from services.scoring.store.tables import (
    identities,
    identity_conflicts,
    lead_events,
    lead_stages,
    leads,
    rule_ledger,
    workspace_settings,
)
from shared.db import driver_connection, schema_of

_RECORD_COLUMNS = (
    "stage",
    "stage_entered_at",
    "stalled_at",
    "identified",
    "score",
    "probability",
    "fit",
    "engagement",
    "model_version",
    "factors",
    "scored_at",
    "published_score",
    "rule_scores",
)


def _record(m: Any) -> LeadRecord:
    """A lead record of a driver row of `leads`."""
    return LeadRecord(
        id=m["id"],
        workspace_id=m["workspace_id"],
        traits=dict(m["traits"]),
        features=FeatureState.from_json(m["features"]),
        first_seen_at=m["first_seen_at"],
        last_seen_at=m["last_seen_at"],
        merged_into=m["merged_into"],
        **{c: m[c] for c in _RECORD_COLUMNS},
    )


async def load_records(
    session: AsyncSession,
    lead_ids: Iterable[str],
    cache: LeadCache | None = None,
    versions: dict[str, str] | None = None,
) -> list[LeadRecord]:
    """Lead rows by id, locked, with the leads they were merged into. With a cache, rows
    whose version (`xmin`) is the one cached are not read again; `versions` gets every
    loaded row's version."""
    raw = await driver_connection(session)
    sql = _Loads.of(await schema_of(session, leads))
    wanted, found = set(lead_ids), {}
    while wanted:
        ordered = _json(sorted(wanted))
        if cache is None:
            for row in await raw.fetch(sql.leads_locked, ordered):
                found[row["id"]] = _record(row)
        else:
            missing = []
            for lead_id, version in await raw.fetch(sql.versions_locked, ordered):
                if versions is not None:
                    versions[lead_id] = version
                record = cache.take(lead_id, version)
                if record is None:
                    missing.append(lead_id)
                else:
                    found[lead_id] = record
            if missing:  # (already locked above)
                for row in await raw.fetch(sql.leads, _json(missing)):
                    found[row["id"]] = _record(row)
        wanted = {r.merged_into for r in found.values() if r.merged_into} - set(found)
    return list(found.values())


async def current_version(session: AsyncSession) -> str:
    """The `xmin` the rows this transaction writes get (see lead_cache.py)."""
    return str(
        await session.scalar(text("SELECT (pg_current_xact_id()::text::bigint % 4294967296)::text"))
    )


async def load_directory(
    session: AsyncSession,
    wanted: dict[str, set[Identifier]],
    lead_ids: Iterable[str] = (),
    cache: LeadCache | None = None,
) -> Directory:
    """The identities of `wanted` (workspace -> identifiers), every identifier of the leads
    they belong to, and those leads (plus `lead_ids`, e.g. from email events)."""
    directory = Directory()
    owning: set[str] = set(lead_ids)
    raw = await driver_connection(session)
    sql = _Loads.of(await schema_of(session, identities))
    for workspace_id, ids in wanted.items():
        if ids:
            rows = await raw.fetch(sql.owners, workspace_id, _json(list(map(tuple, ids))))
            owning.update(row[0] for row in rows)
    if not owning:
        return directory
    for record in await load_records(session, owning, cache, directory.versions):
        directory.records[record.id] = record
    live = [r.id for r in directory.records.values() if not r.merged_into]
    for workspace_id, kind, value, lead_id in await raw.fetch(sql.identities, _json(live)):
        directory.add_identity(workspace_id, Identifier(kind, value), lead_id)
    return directory


@dataclass(frozen=True)
class _Loads:
    """The loading statements, for one schema; sent straight to the driver (SQLAlchemy's
    result processing cost ~2 us per row), their lists as JSON (`_json`)."""

    leads_locked: str
    versions_locked: str
    leads: str
    owners: str
    identities: str

    @staticmethod
    @functools.cache
    def of(schema: str | None) -> _Loads:
        leads_table = f'"{schema or "public"}"."{leads.name}"'
        identities_table = f'"{schema or "public"}"."{identities.name}"'
        ids = "(SELECT json_array_elements_text($1::json))"
        return _Loads(
            leads_locked=f"SELECT * FROM {leads_table} WHERE id IN {ids} ORDER BY id FOR UPDATE",
            versions_locked=(
                f"SELECT id, xmin::text FROM {leads_table} WHERE id IN {ids} ORDER BY id FOR UPDATE"
            ),
            leads=f"SELECT * FROM {leads_table} WHERE id IN {ids}",
            # (identifiers as [kind, value] pairs: json_to_recordset needs objects)
            owners=(
                f"SELECT i.lead_id FROM {identities_table} i "
                "JOIN (SELECT w->>0 AS kind, w->>1 AS value "
                "FROM json_array_elements($2::json) AS w) AS w "
                "ON i.kind = w.kind AND i.value = w.value WHERE i.workspace_id = $1"
            ),
            identities=(
                f"SELECT workspace_id, kind, value, lead_id FROM {identities_table} "
                f"WHERE lead_id IN {ids}"
            ),
        )


async def configs(session: AsyncSession, workspace_ids: Iterable[str]) -> dict[str, ScoringConfig]:
    """Each workspace's scoring configuration (the defaults where none was saved)."""
    ids = sorted(set(workspace_ids))
    found = {ws: ScoringConfig() for ws in ids}
    if ids:
        rows = await session.execute(
            select(workspace_settings.c.workspace_id, workspace_settings.c.config).where(
                workspace_settings.c.workspace_id.in_(ids)
            )
        )
        for row in rows:
            found[row.workspace_id] = ScoringConfig.model_validate(row.config)
    return found


async def save_config(session: AsyncSession, workspace_id: str, config: ScoringConfig) -> None:
    data = config.model_dump(mode="json")
    stmt = insert(workspace_settings).values(workspace_id=workspace_id, config=data)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[workspace_settings.c.workspace_id],
            set_={"config": stmt.excluded.config, "updated_at": text("now()")},
        )
    )


_LEAD_COLUMNS = tuple(c.name for c in leads.columns if c.name != "created_at")


@functools.cache
def _lead_upsert(schema: str | None) -> tuple[str, str, str]:
    """How new and changed leads are written into `schema`'s leads, whatever their number:
    COPY into a temporary table of this connection, then one INSERT ... ON CONFLICT (id) DO
    UPDATE of every column but the creation time that empties it. Per lead, on bench data:
    17 us of this process's CPU and 64 us in all, against 29 and 76 us for one array
    parameter per column (asyncpg checks each element against collections ABCs) and 12 and
    92 us for one JSON parameter (json_to_recordset, slow for PostgreSQL).
    Returns (the staging table's name, the statement creating it if missing, the upsert)."""
    target = f'"{schema or "public"}"."{leads.name}"'
    # (Named for the columns too: a connection older than a migration makes a new one.)
    staging = f"leads_in_{schema or 'public'}_{zlib.crc32(' '.join(_LEAD_COLUMNS).encode()):x}"
    create = (
        f"DO $$ BEGIN IF to_regclass('pg_temp.{staging}') IS NULL THEN "
        f"CREATE TEMP TABLE {staging} (LIKE {target} INCLUDING DEFAULTS) "
        "ON COMMIT DELETE ROWS; END IF; END $$"
    )
    columns = ", ".join(_LEAD_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _LEAD_COLUMNS if c != "id")
    # (Emptied as it is read: a transaction may write leads more than once.)
    upsert = (
        f"WITH staged AS (DELETE FROM pg_temp.{staging} RETURNING {columns}) "
        f"INSERT INTO {target} ({columns}) SELECT {columns} FROM staged "
        f"ON CONFLICT (id) DO UPDATE SET {updates}"
    )
    return staging, create, upsert


def _json(value: Any) -> str:
    """As the engine's json_serializer writes it. Also how the loads pass a list: asyncpg
    encodes an array parameter element by element (~300 ns each, checking each against
    collections ABCs), orjson in C (~60 ns)."""
    return orjson.dumps(value).decode()


def _lead_rows(records: Sequence[LeadRecord], now: datetime) -> list[tuple[Any, ...]]:
    """The leads as rows of _LEAD_COLUMNS (JSON columns as text)."""
    return [
        (
            r.id,
            r.workspace_id,
            _json(r.traits),
            _json(r.features.as_json()),
            r.first_seen_at,
            r.last_seen_at,
            r.merged_into,
            now,
            r.stage,
            r.stage_entered_at,
            r.stalled_at,
            r.identified,
            r.score,
            r.probability,
            r.fit,
            r.engagement,
            r.model_version,
            _json(r.factors),
            r.scored_at,
            r.published_score,
            _json(r.rule_scores),
        )
        for r in records
    ]


async def save_records(session: AsyncSession, records: Sequence[LeadRecord], now: datetime) -> None:
    """Write new and changed leads."""
    todo = [r for r in records if r.changed or r.is_new]
    if todo:
        raw = await driver_connection(session)
        staging, create, upsert = _lead_upsert(await schema_of(session, leads))
        await raw.execute(create)
        await raw.copy_records_to_table(
            staging, schema_name="pg_temp", columns=_LEAD_COLUMNS, records=_lead_rows(todo, now)
        )
        await raw.execute(upsert)
    for record in records:
        record.is_new = record.changed = False


async def save_links(session: AsyncSession, directory: Directory) -> None:
    """New identifier links and conflicts: final once every event of a batch has its lead,
    so they can be written while the batch is scored (see handlers._apply_run)."""
    if directory.new_links:
        await _copy(
            session,
            identities,
            ("workspace_id", "kind", "value", "lead_id"),
            [(ws, i.kind, i.value, lead_id) for ws, i, lead_id in directory.new_links],
        )
    if directory.conflicts:
        await session.execute(
            insert(identity_conflicts),
            [
                {
                    "workspace_id": ws,
                    "lead_id": lead_id,
                    "other_lead_id": c.other_lead_id,
                    "reason": c.reason,
                    "event_id": event_id,
                }
                for ws, lead_id, c, event_id in directory.conflicts
            ],
        )
    directory.new_links.clear()
    directory.conflicts.clear()


async def save_merges(session: AsyncSession, directory: Directory) -> None:
    """Merges: identities, earlier folds, timeline and ledger move to the survivor. After
    save_records (which writes the folded lead's own row) and add_timeline (whose rows may
    name a lead folded later in the batch)."""
    for merge in directory.merges:
        await session.execute(
            update(identities)
            .where(
                identities.c.workspace_id == merge.workspace_id,
                identities.c.lead_id == merge.folded,
            )
            .values(lead_id=merge.into)
        )
        await session.execute(
            update(leads).where(leads.c.merged_into == merge.folded).values(merged_into=merge.into)
        )
        for table in (lead_events, rule_ledger):
            await session.execute(
                update(table).where(table.c.lead_id == merge.folded).values(lead_id=merge.into)
            )
    directory.merges.clear()


async def _copy(
    session: AsyncSession, table: Any, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Rows by COPY, in the session's transaction: one round trip, no per-row statement."""
    raw = await driver_connection(session)
    await raw.copy_records_to_table(
        table.name, schema_name=await schema_of(session, table), columns=columns, records=rows
    )


TIMELINE_COLUMNS = ("event_id", "workspace_id", "lead_id", "type", "occurred_at", "payload")


async def add_timeline(session: AsyncSession, rows: Sequence[tuple[Any, ...]]) -> None:
    """Timeline rows (TIMELINE_COLUMNS, the payload as JSON text) by COPY: one per applied
    touchpoint, the largest write of a batch. Their event ids were just claimed in the
    inbox, so none can be there already."""
    if rows:
        await _copy(session, lead_events, TIMELINE_COLUMNS, rows)


STAGE_COLUMNS = (
    "workspace_id",
    "lead_id",
    "stage",
    "from_stage",
    "entered_at",
    "left_at",
    "reason",
    "actor",
    "score",
    "model_version",
    "event_id",
)


@functools.cache
def _close_stages(schema: str | None) -> str:
    """Each lead's open stage entry is left when its first new one is entered: one
    statement from two arrays (SQLAlchemy's executemany sent one UPDATE per lead)."""
    return (
        f'UPDATE "{schema or "public"}"."{lead_stages.name}" AS s SET left_at = v.at '
        "FROM unnest($1::varchar[], $2::timestamptz[]) AS v(lead_id, at) "
        "WHERE s.lead_id = v.lead_id AND s.left_at IS NULL"
    )


async def add_stages(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Stage entries, in order; each closes the lead's entry before it."""
    if not rows:
        return
    rows = [dict(r, left_at=None) for r in rows]
    first: dict[str, dict[str, Any]] = {}
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        before = latest.get(row["lead_id"])
        if before is None:
            first[row["lead_id"]] = row
        else:
            before["left_at"] = row["entered_at"]
        latest[row["lead_id"]] = row
    raw = await driver_connection(session)
    await raw.execute(
        _close_stages(await schema_of(session, lead_stages)),
        list(first),
        [row["entered_at"] for row in first.values()],
    )
    await _copy(
        session, lead_stages, STAGE_COLUMNS, [tuple(map(r.get, STAGE_COLUMNS)) for r in rows]
    )


_LEDGER_FIELDS = (
    "rule_id",
    "score",
    "kind",
    "action",
    "points",
    "event_id",
    "reason",
    "half_life_days",
)


async def ledger(session: AsyncSession, lead_ids: Iterable[str]) -> dict[str, list[LedgerEntry]]:
    """Point-rule ledgers of these leads, each in the order it was written."""
    found: dict[str, list[LedgerEntry]] = {}
    ids = sorted(set(lead_ids))
    if not ids:
        return found
    rows = await session.execute(
        select(rule_ledger).where(rule_ledger.c.lead_id.in_(ids)).order_by(rule_ledger.c.id)
    )
    for row in rows:
        m = row._mapping
        found.setdefault(m["lead_id"], []).append(
            LedgerEntry(at=m["awarded_at"], **{f: m[f] for f in _LEDGER_FIELDS})
        )
    return found


async def add_ledger(session: AsyncSession, rows: Sequence[tuple[str, str, LedgerEntry]]) -> None:
    """New ledger entries: (workspace, lead, entry), in order."""
    if rows:
        await session.execute(
            insert(rule_ledger),
            [
                {
                    "workspace_id": ws,
                    "lead_id": lead_id,
                    "awarded_at": e.at,
                    **{f: getattr(e, f) for f in _LEDGER_FIELDS},
                }
                for ws, lead_id, e in rows
            ],
        )
