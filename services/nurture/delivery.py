"""The delivery worker: due sends out over SMTP, each at most once, with their events.

``deliver_due`` takes one batch of due sends (``status = 'queued' AND next_attempt_at <=
now``, ``FOR UPDATE SKIP LOCKED``: several workers never take the same row) and, in ONE
transaction per batch, decides each one's fate:

- past its deadline: ``expired`` (no email);
- no address: ``failed``; the address suppressed (unsubscribed, bounced, complaint, manual),
  the lead's traits saying ``unsubscribed``, or the workspace requiring opt-in and the
  lead's ``email_opt_in`` trait not being true: ``suppressed``;
- outside the workspace's local send window (the lead's IANA zone, else the workspace's):
  pushed to the window's next opening, or ``expired`` if that is past the deadline;
- over the per-lead frequency caps (counted over the lead's sent and in-flight sends of
  every sequence, ``timing.cap_allows``): pushed to when the caps allow it, or ``capped`` if
  that is past the deadline;
- over the workspace's rate (``rate_per_minute``, sends sent or in flight in the last
  minute): pushed back until a slot frees;
- the template missing or failing to render: ``failed`` with the reason;
- otherwise rendered (lead context, workspace name, unsubscribe link; click tracking and
  the open pixel through ingest's ``/t/c/`` and ``/t/o/`` when the workspace wants them)
  and CLAIMED: ``status = 'sending'``, ``claimed_at``, ``attempts + 1``.

Claims of one workspace are serialized by a transaction-scoped advisory lock on the
workspace, so caps and the rate hold with several workers (each only waits for another's
short claim transaction, never for its SMTP traffic).

The claim's row updates are written in one statement per kind of change (not one per
row), and the messages are composed straight to wire bytes (``mailer.compose_wire``).

The batch commits; then the claimed messages go out over the mailer(s) (one SMTP connection
each, reused, all sending at once), following the never-twice protocol of
``services.nurture.mailer``: the ``in-data`` marker of a send is committed before its DATA
is issued, always; the marker is refused when the address was suppressed (an unsubscribe, a
bounce, a manual suppression) after the claim, and the send ends ``suppressed`` without
DATA, so nothing starts going out once a suppression is committed. Markers and results go
through one writer per batch (``_Writer``) that group-commits them: a transaction carries
every marker requested meanwhile (of any mailer) and every result recorded since the last
one, so a mailer's result of email k is committed with its marker of email k+1 (one commit
per email, fewer with several mailers). A result is never awaited before the next send; the
writer commits the remaining ones when the batch's sends are done. Waiting changes nothing
for never-twice: until its result is committed, an accepted send sits in ``sending`` WITH
its marker, which recovery turns into ``sent`` (outcome unknown), never into a second email;
a send refused before DATA sits there without it and is retried after recovery, which
delivers it once. Each result is guarded by the claim (``status = 'sending' AND attempts =
n``):

- accepted: ``sent`` and ``email.sent`` through the outbox (event id derived from the send
  id, so it is the same event whoever records it);
- transient (4xx, connection trouble before DATA): back to ``queued`` with exponential
  backoff (``BACKOFF_BASE * 2**(attempts-1)``, at most ``BACKOFF_MAX``), inside the send
  window; ``failed`` when the next try would be past the deadline;
- permanent (5xx to RCPT or DATA): ``bounced``, the address suppressed (reason
  ``bounced``, detail the server's reply) and ``email.bounced`` (kind ``hard``); the other
  sends of the batch are not affected;
- unknown (connection lost during DATA): ``sent`` with the reason in ``last_error``, never
  retried.

``recover_interrupted`` applies the restart rule to rows left in ``sending`` by a worker
that stopped: without the in-data marker they go back to ``queued`` (nothing was delivered),
with it they are recorded as ``sent`` (outcome unknown) and not sent again.
``run_forever`` is the loop the service runs; it wakes when the next queued send is due
(``next_due``), so a send goes out within about one batch's time of becoming due.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import (
    Boolean,
    CursorResult,
    SmallInteger,
    String,
    Text,
    bindparam,
    case,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture import models
from services.nurture.config import NurtureConfig
from services.nurture.links import add_open_pixel, track_links
from services.nurture.mailer import IN_DATA, Mailer, Outcome, Outgoing, compose_wire
from services.nurture.settings import NurtureSettings
from services.nurture.templating import RenderError, TemplateParts, lead_context, render
from services.nurture.timing import cap_allows, next_in_window, resolve_zone
from services.nurture.unsubscribe import unsubscribe_token, unsubscribe_url
from shared.db import UnitOfWork
from shared.email_links import EmailLink, sign
from shared.events import Envelope
from shared.signals import sleep_unless

log = logging.getLogger(__name__)

UowFactory = Callable[[], UnitOfWork]
WorkspaceName = Callable[[str], str | None]

BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
RATE_PERIOD = timedelta(minutes=1)
QUICKEST_POLL = timedelta(milliseconds=50)  # run_forever never polls more often than this
UNKNOWN_AFTER_CRASH = (
    "outcome unknown: worker stopped during the SMTP transaction; not re-sent to avoid a duplicate"
)
UNKNOWN_DURING_DATA = (
    "outcome unknown: the connection failed during DATA ({detail}); "
    "not re-sent to avoid a duplicate"
)
REQUEUED_AFTER_CRASH = "requeued: worker stopped before DATA; nothing had been delivered"

_EVENT_IDS = uuid.UUID("0c8e4a57-3b1d-4f2e-a9c6-7d5b1e2f8a34")
_LOCK_SPACE = 7_301_005  # advisory lock namespace: nurture delivery claims, per workspace
_sends = models.sends


def event_id(kind: str, send_id: str) -> uuid.UUID:
    """The id of a send's ``email.sent`` / ``email.bounced``: one per send, whoever emits it."""
    return uuid.uuid5(_EVENT_IDS, f"{kind}:{send_id}")


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after ``attempts`` failed ones (1 min, 2, 4, ... at most 1 h)."""
    exponent = max(0, min(attempts - 1, 20))
    return min(BACKOFF_BASE * (1 << exponent), BACKOFF_MAX)


def interrupted_after(settings: NurtureSettings) -> timedelta:
    """How long a claim may stay in ``sending`` before it counts as abandoned: longer than
    any live SMTP transaction (connect, MAIL, RCPT, DATA, each bounded by the timeout)."""
    return timedelta(seconds=5 * settings.smtp_timeout_seconds + 60)


@dataclass
class _Job:
    """A claimed send, rendered, waiting for its SMTP transaction."""

    row: RowMapping
    attempts: int  # after the claim: the guard of every later update
    to: str
    subject: str
    message: Outgoing
    zone: ZoneInfo
    config: NurtureConfig


@dataclass
class _Batch:
    """What one claim transaction knows of the batch's workspaces and leads."""

    configs: dict[str, NurtureConfig] = field(default_factory=dict)
    leads: dict[tuple[str, str], RowMapping] = field(default_factory=dict)
    templates: dict[str, RowMapping] = field(default_factory=dict)
    suppressed: dict[tuple[str, str], str] = field(default_factory=dict)
    history: dict[tuple[str, str], list[datetime]] = field(default_factory=dict)
    rate: dict[str, list[datetime]] = field(default_factory=dict)


# --- claiming ---------------------------------------------------------------------------


def _config(raw: Any, workspace_id: str) -> NurtureConfig:
    if raw is None:
        return NurtureConfig()
    try:
        return NurtureConfig.model_validate(raw)
    except ValidationError:
        log.exception("invalid nurture settings of workspace %s; using defaults", workspace_id)
        return NurtureConfig()


def _address(row: RowMapping, lead: RowMapping | None) -> str | None:
    candidates: list[Any] = []
    if lead is not None:
        traits = lead["traits"] if isinstance(lead["traits"], Mapping) else {}
        candidates += [lead["email"], traits.get("email")]
    candidates.append(row["to_email"])
    for value in candidates:
        if isinstance(value, str) and "@" in value.strip():
            return value.strip()
    return None


def _traits(lead: RowMapping | None) -> Mapping[str, Any]:
    if lead is None or not isinstance(lead["traits"], Mapping):
        return {}
    return cast(Mapping[str, Any], lead["traits"])


def _zone(traits: Mapping[str, Any], config: NurtureConfig) -> ZoneInfo:
    return resolve_zone(
        traits.get("timezone"), traits.get("time_zone"), traits.get("tz"), default=config.timezone
    )


def _in_flight_at() -> Any:
    """When a send counts for caps and rate: sent_at once sent, claimed_at while sending."""
    return func.coalesce(_sends.c.sent_at, _sends.c.claimed_at)


async def _load(session: AsyncSession, rows: Sequence[RowMapping], now: datetime) -> _Batch:
    batch = _Batch()
    workspaces = sorted({r["workspace_id"] for r in rows})
    pairs = sorted({(r["workspace_id"], r["lead_id"]) for r in rows})

    ws = models.workspace_settings
    for wid, raw in await session.execute(
        select(ws.c.workspace_id, ws.c.config).where(ws.c.workspace_id.in_(workspaces))
    ):
        batch.configs[wid] = _config(raw, wid)
    for wid in workspaces:
        batch.configs.setdefault(wid, NurtureConfig())

    leads = models.leads
    for lead in (
        await session.execute(
            select(leads).where(tuple_(leads.c.workspace_id, leads.c.lead_id).in_(pairs))
        )
    ).mappings():
        batch.leads[(lead["workspace_id"], lead["lead_id"])] = lead

    templates = models.templates
    template_ids = sorted({r["template_id"] for r in rows})
    for template in (
        await session.execute(select(templates).where(templates.c.id.in_(template_ids)))
    ).mappings():
        batch.templates[template["id"]] = template

    addresses = sorted(
        {
            (r["workspace_id"], address.lower())
            for r in rows
            if (address := _address(r, batch.leads.get((r["workspace_id"], r["lead_id"]))))
        }
    )
    if addresses:
        sup = models.suppressions
        for wid, email, reason in await session.execute(
            select(sup.c.workspace_id, sup.c.email, sup.c.reason).where(
                tuple_(sup.c.workspace_id, sup.c.email).in_(addresses)
            )
        ):
            batch.suppressed[(wid, email)] = reason

    longest = max(
        (cap.per for config in batch.configs.values() for cap in config.caps),
        default=timedelta(0),
    )
    at = _in_flight_at()
    if longest > timedelta(0):
        for wid, lead_id, when in await session.execute(
            select(_sends.c.workspace_id, _sends.c.lead_id, at).where(
                tuple_(_sends.c.workspace_id, _sends.c.lead_id).in_(pairs),
                _sends.c.status.in_(("sent", "sending")),
                at > now - longest,
            )
        ):
            batch.history.setdefault((wid, lead_id), []).append(when)

    for wid, when in await session.execute(
        select(_sends.c.workspace_id, at).where(
            _sends.c.workspace_id.in_(workspaces),
            _sends.c.status.in_(("sent", "sending")),
            at > now - RATE_PERIOD,
        )
    ):
        batch.rate.setdefault(wid, []).append(when)
    return batch


async def _set(session: AsyncSession, send_id: str, **values: Any) -> None:
    await session.execute(update(_sends).where(_sends.c.id == send_id).values(**values))


class _Updates:
    """Row updates of one claim transaction, written at the end with one executemany per
    set of changed columns (the rows are locked by the claim's FOR UPDATE)."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def set(self, send_id: str, **values: Any) -> None:
        self._groups.setdefault(tuple(sorted(values)), []).append({"_id": send_id, **values})

    async def write(self, session: AsyncSession) -> None:
        for columns, rows in self._groups.items():
            stmt = (
                update(_sends)
                .where(_sends.c.id == bindparam("_id"))
                .values({c: bindparam(c) for c in columns})
            )
            await session.execute(stmt, sorted(rows, key=lambda r: str(r["_id"])))


def _render(
    row: RowMapping,
    lead: RowMapping | None,
    template: RowMapping,
    *,
    to: str,
    config: NurtureConfig,
    settings: NurtureSettings,
    workspace_name: str,
    now: datetime,
) -> tuple[str, Outgoing]:
    """The subject and the wire message of one send (raises on any problem)."""
    secret = settings.secret_key.get_secret_value()
    ids = {
        "workspace_id": row["workspace_id"],
        "lead_id": row["lead_id"],
        "email": to,
        "send_id": row["id"],
    }
    unsubscribe = unsubscribe_url(settings.public_url, secret, **ids)
    facts: dict[str, Any] = {"lead_id": row["lead_id"], "email": to}
    if lead is not None:
        for key in ("traits", "score", "fit", "engagement", "stage"):
            facts[key] = lead[key]
    context = lead_context(facts)
    context.update(
        workspace=workspace_name,
        unsubscribe_url=unsubscribe,
        preferences_url=unsubscribe,
        now=now,
    )
    parts = TemplateParts(subject=template["subject"], html=template["html"], text=template["text"])
    rendered = render(parts, context)
    html = rendered.html
    if html:
        tracking = settings.tracking_url.rstrip("/")

        def link(url: str | None) -> str:
            return sign(
                EmailLink(
                    workspace_id=row["workspace_id"],
                    lead_key=row["lead_id"],
                    lead_id=row["lead_id"],
                    send_id=row["id"],
                    sequence_id=row["sequence_id"],
                    step_id=row["step_id"],
                    url=url,
                ),
                secret,
            )

        if config.track_clicks:
            html = track_links(html, lambda url: f"{tracking}/t/c/{link(url)}", keep={unsubscribe})
        if config.track_opens:
            html = add_open_pixel(html, f"{tracking}/t/o/{link(None)}")
    message = compose_wire(
        message_id=row["message_id"] or row["id"],
        from_address=config.from_address,
        from_name=config.from_name,
        to=to,
        subject=rendered.subject,
        text=rendered.text,
        html=html,
        unsubscribe_url=unsubscribe,
        unsubscribe_token=unsubscribe_token(secret, **ids),
        date=now,
        reply_to=config.reply_to,
    )
    return rendered.subject, message


async def _claim(
    uow: UnitOfWork,
    settings: NurtureSettings,
    *,
    now: datetime,
    limit: int,
    workspace_name: WorkspaceName | None,
) -> tuple[int, list[_Job]]:
    session = uow.session
    rows = (
        (
            await session.execute(
                select(_sends)
                .where(
                    _sends.c.status == "queued",
                    _sends.c.next_attempt_at <= now,
                    # A paused sequence's sends wait (resume extends their deadlines).
                    _sends.c.sequence_id.in_(
                        select(models.sequences.c.id).where(models.sequences.c.status == "active")
                    ),
                )
                .order_by(_sends.c.next_attempt_at, _sends.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .mappings()
        .all()
    )
    if not rows:
        return 0, []
    # One claimer per workspace at a time (in a fixed order: no deadlock), so that the
    # counts below include every other worker's committed claims.
    for wid in sorted({r["workspace_id"] for r in rows}):
        await session.execute(select(func.pg_advisory_xact_lock(_LOCK_SPACE, func.hashtext(wid))))
    batch = await _load(session, rows, now)

    jobs: list[_Job] = []
    updates = _Updates()
    for row in rows:
        wid, send_id = row["workspace_id"], row["id"]
        config = batch.configs[wid]
        lead = batch.leads.get((wid, row["lead_id"]))
        traits = _traits(lead)
        deadline: datetime = row["deadline"]

        if now > deadline:
            updates.set(send_id, status="expired", last_error="deadline passed")
            continue
        to = _address(row, lead)
        if to is None:
            updates.set(send_id, status="failed", last_error="no email address")
            continue
        reason = batch.suppressed.get((wid, to.lower()))
        if reason is None and traits.get("unsubscribed") is True:
            reason = "unsubscribed (lead traits)"
        if reason is None and config.require_opt_in and traits.get("email_opt_in") is not True:
            reason = "no opt-in (the workspace requires email_opt_in)"
        if reason is not None:
            updates.set(send_id, status="suppressed", last_error=f"suppressed: {reason}")
            continue

        zone = _zone(traits, config)
        opens = next_in_window(now, zone, config.send_window)
        if opens > now:
            if opens > deadline:
                updates.set(send_id, status="expired", last_error="no send window before deadline")
            else:
                updates.set(send_id, next_attempt_at=opens, last_error="waiting for send window")
            continue

        history = batch.history.setdefault((wid, row["lead_id"]), [])
        allowed = cap_allows(history, now, config.caps)
        if allowed is not None:
            when = next_in_window(allowed, zone, config.send_window)
            if when > deadline:
                updates.set(
                    send_id,
                    status="capped",
                    last_error=f"frequency cap: next allowed {allowed.isoformat()}, after deadline",
                )
            else:
                updates.set(
                    send_id,
                    next_attempt_at=when,
                    last_error=f"frequency cap: pushed to {when.isoformat()}",
                )
            continue

        recent = batch.rate.setdefault(wid, [])
        if len(recent) >= config.rate_per_minute:
            when = max(min(recent) + RATE_PERIOD, now + timedelta(seconds=1))
            if when > deadline:
                updates.set(send_id, status="expired", last_error="rate limit")
            else:
                updates.set(send_id, next_attempt_at=when, last_error="rate limit")
            continue

        template = batch.templates.get(row["template_id"])
        if template is None:
            updates.set(send_id, status="failed", last_error=f"no template {row['template_id']}")
            continue
        name = (workspace_name(wid) if workspace_name else None) or wid
        try:
            subject, message = _render(
                row,
                lead,
                template,
                to=to,
                config=config,
                settings=settings,
                workspace_name=name,
                now=now,
            )
        except (RenderError, ValidationError, ValueError, TypeError) as exc:
            updates.set(send_id, status="failed", last_error=f"cannot render: {exc}")
            continue

        attempts = int(row["attempts"]) + 1
        updates.set(
            send_id,
            status="sending",
            claimed_at=now,
            attempts=attempts,
            to_email=to,
            last_error=None,
        )
        history.append(now)
        recent.append(now)
        jobs.append(_Job(row, attempts, to, subject, message, zone, config))
    await updates.write(session)
    return len(rows), jobs


# --- sending and recording --------------------------------------------------------------


def _claimed(job: _Job) -> Any:
    return (
        (_sends.c.id == job.row["id"])
        & (_sends.c.status == "sending")
        & (_sends.c.attempts == job.attempts)
    )


def _payload(row: RowMapping, **extra: Any) -> dict[str, Any]:
    return {
        "lead_id": row["lead_id"],
        "send_id": row["id"],
        "sequence_id": row["sequence_id"],
        "step_id": row["step_id"],
        "version": row["version"],
        "variant_id": row["variant_id"],
        "template_id": row["template_id"],
        **extra,
    }


def _event(event_type: str, row: RowMapping, at: datetime, **extra: Any) -> Envelope:
    return Envelope(
        id=event_id(event_type, row["id"]),
        type=event_type,
        workspace_id=row["workspace_id"],
        lead_key=row["lead_id"],
        occurred_at=at,
        payload=_payload(row, **extra),
    )


def _sent_event(row: RowMapping, at: datetime, *, to: str, subject: str, **extra: Any) -> Envelope:
    return _event(
        "email.sent",
        row,
        at,
        to=to,
        subject=subject,
        message_id=row["message_id"],
        **extra,
    )


async def _guarded(session: AsyncSession, job: _Job, **values: Any) -> bool:
    result = await session.execute(update(_sends).where(_claimed(job)).values(**values))
    return cast(CursorResult[Any], result).rowcount == 1


def _unnest(**arrays: tuple[Any, list[Any]]) -> Any:
    """``unnest(:a, :b, ...) AS v(a, b, ...)``: one parameter per column, whatever the count."""
    params = [
        bindparam(name, values, type_=ARRAY(type_)) for name, (type_, values) in arrays.items()
    ]
    return func.unnest(*params).table_valued(*arrays).render_derived(name="v")


async def _mark_and_record_sent(
    uow: UnitOfWork,
    markers: Sequence[_Job],
    sent: Sequence[tuple[_Job, Outcome]],
    *,
    topic: str,
    now: datetime,
) -> set[str]:
    """In ONE statement, each guarded by its claim: the in-data markers of ``markers``, and
    ``sent`` (accepted or unknown outcomes) recorded as ``sent`` with ``email.sent``.
    Returns the ids of ``markers`` that got their marker."""
    if not markers and not sent:
        return set()
    jobs = [*markers, *(j for j, _ in sent)]
    is_sent = [False] * len(markers) + [True] * len(sent)
    notes = [None] * len(markers) + [
        UNKNOWN_DURING_DATA.format(detail=o.reply) if o.kind == "unknown" else None for _, o in sent
    ]
    v = _unnest(
        ids=(String, [j.row["id"] for j in jobs]),
        attempts=(SmallInteger, [j.attempts for j in jobs]),
        sent=(Boolean, is_sent),
        notes=(Text, notes),
        emails=(String, [j.to.lower() for j in jobs]),
    )
    sup = models.suppressions
    suppressed_since_claim = (
        select(sup.c.email)
        .where(sup.c.workspace_id == _sends.c.workspace_id, sup.c.email == v.c.emails)
        .exists()
    )
    result = await uow.session.execute(
        update(_sends)
        .where(
            _sends.c.id == v.c.ids,
            _sends.c.attempts == v.c.attempts,
            _sends.c.status == "sending",
            # An unsubscribe, bounce or suppression committed since the claim: no DATA.
            v.c.sent | ~suppressed_since_claim,
        )
        .values(
            status=case((v.c.sent, "sent"), else_=_sends.c.status),
            sent_at=case((v.c.sent, now), else_=_sends.c.sent_at),
            last_error=case((v.c.sent, v.c.notes), else_=IN_DATA),
        )
        .returning(_sends.c.id)
    )
    hit = set(result.scalars())
    events = []
    for job, outcome in sent:
        if job.row["id"] in hit:
            extra = {"outcome_unknown": True} if outcome.kind == "unknown" else {}
            events.append(_sent_event(job.row, now, to=job.to, subject=job.subject, **extra))
    await uow.emit(topic, *events)
    return {j.row["id"] for j in markers} & hit


async def _suppress_refused(uow: UnitOfWork, jobs: Sequence[_Job]) -> None:
    """Claims whose marker was refused because the address got suppressed after the claim
    end as ``suppressed`` now (nothing was delivered), instead of waiting for recovery."""
    sup = models.suppressions
    for job in jobs:
        reason = await uow.session.scalar(
            select(sup.c.reason).where(
                sup.c.workspace_id == job.row["workspace_id"], sup.c.email == job.to.lower()
            )
        )
        if reason is not None:
            await _guarded(
                uow.session, job, status="suppressed", last_error=f"suppressed: {reason}"
            )


async def _record_other(
    uow: UnitOfWork, job: _Job, outcome: Outcome, *, topic: str, now: datetime
) -> None:
    """A transient or permanent outcome (rare: one statement each)."""
    row = job.row
    if outcome.kind == "transient":
        when = next_in_window(now + backoff(job.attempts), job.zone, job.config.send_window)
        if when > row["deadline"]:
            await _guarded(
                uow.session,
                job,
                status="failed",
                last_error=f"{outcome.reply} (no retry possible before the deadline)",
            )
        else:
            await _guarded(
                uow.session,
                job,
                status="queued",
                next_attempt_at=when,
                last_error=outcome.reply,
            )
    else:  # permanent: a hard bounce of this address only
        if await _guarded(uow.session, job, status="bounced", last_error=outcome.reply):
            await uow.session.execute(
                pg_insert(models.suppressions)
                .values(
                    workspace_id=row["workspace_id"],
                    email=job.to.lower(),
                    reason="bounced",
                    detail=outcome.reply,
                )
                .on_conflict_do_nothing()
            )
            await uow.emit(
                topic,
                _event("email.bounced", row, now, kind="hard", detail=outcome.reply, to=job.to),
            )


class _Writer:
    """One batch's in-data markers and results, group-committed (see the module docstring).

    ``marker`` returns once the marker is committed (True) or the claim is found lost
    (False), and raises if the transaction failed; ``result`` only queues: results ride
    along with the next transaction that carries a marker, and ``close`` commits the rest.
    A failed transaction fails its markers (their sends give their claims back, as before)
    and leaves its results to recovery (``sending``, marker or not: the restart rule is
    exactly right for them); ``error`` keeps it to report at the end.
    """

    def __init__(self, uow_factory: UowFactory, *, topic: str, now: datetime) -> None:
        self._uow_factory = uow_factory
        self._topic = topic
        self._now = now
        self._markers: list[tuple[_Job, asyncio.Future[bool]]] = []
        self._results: list[tuple[_Job, Outcome]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self.error: Exception | None = None
        self.transactions = 0
        self._task = asyncio.create_task(self._run())

    async def marker(self, job: _Job) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._markers.append((job, future))
        self._wake.set()
        return await future

    def result(self, job: _Job, outcome: Outcome) -> None:
        if outcome.kind == "aborted":
            log.info("send %s: claim lost before DATA; left to its new owner", job.row["id"])
            return
        self._results.append((job, outcome))

    async def close(self) -> None:
        """Commit what is left and stop."""
        self._closing = True
        self._wake.set()
        await self._task

    def abandon(self) -> None:
        """Stop without writing anything more (the worker is going down)."""
        self._task.cancel()
        for _, future in self._markers:
            future.cancel()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._markers or (self._closing and self._results):
                markers, self._markers = self._markers, []
                results, self._results = self._results, []
                try:
                    got = await self._write([j for j, _ in markers], results)
                except Exception as exc:
                    if results:
                        log.exception(
                            "recording %d send results failed; recovery will settle them",
                            len(results),
                        )
                        self.error = exc
                    for _, future in markers:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for job, future in markers:
                    if not future.done():
                        future.set_result(job.row["id"] in got)
            if self._closing:
                return

    async def _write(self, markers: list[_Job], results: list[tuple[_Job, Outcome]]) -> set[str]:
        self.transactions += 1
        async with self._uow_factory() as uow:
            for job, outcome in results:
                if outcome.kind in ("transient", "permanent"):
                    await _record_other(uow, job, outcome, topic=self._topic, now=self._now)
            sent = [(j, o) for j, o in results if o.kind in ("accepted", "unknown")]
            got = await _mark_and_record_sent(uow, markers, sent, topic=self._topic, now=self._now)
            await _suppress_refused(uow, [j for j in markers if j.row["id"] not in got])
            return got


async def _deliver(
    uow_factory: UowFactory, mailer: Mailer, job: _Job, writer: _Writer, *, now: datetime
) -> str:
    async def in_data() -> bool:
        return await writer.marker(job)

    try:
        outcome = await mailer.send(job.message, before_data=in_data)
    except Exception:
        # The marker's commit failed (or its answer was lost): DATA was not issued. Give the
        # send back if the marker is surely absent; otherwise recovery decides later.
        log.exception("send %s: could not record the in-data marker", job.row["id"])
        try:
            async with uow_factory() as uow:
                await uow.session.execute(
                    update(_sends)
                    .where(_claimed(job), _sends.c.last_error.is_distinct_from(IN_DATA))
                    .values(status="queued", next_attempt_at=now + backoff(job.attempts))
                )
        except Exception:
            log.exception("send %s: left in 'sending' for recovery", job.row["id"])
        return "error"
    writer.result(job, outcome)
    return outcome.kind


async def deliver_due(
    uow_factory: UowFactory,
    mailer: Mailer | Sequence[Mailer],
    settings: NurtureSettings,
    *,
    topic: str,
    now: datetime,
    limit: int = 100,
    workspace_name: WorkspaceName | None = None,
) -> int:
    """Handle up to ``limit`` due sends; returns how many due sends it took (whatever their
    fate), so a caller knows whether more may be waiting (== limit).

    ``mailer`` may be several mailers (one SMTP connection each): the batch's messages are
    spread over them, all sending at once. ``topic`` is the email-events topic;
    ``workspace_name`` gives the ``{{ workspace }}`` of templates (default: the workspace id).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    async with uow_factory() as uow:
        taken, jobs = await _claim(
            uow, settings, now=now, limit=limit, workspace_name=workspace_name
        )
    if not jobs:
        return taken
    mailers = [mailer] if isinstance(mailer, Mailer) else list(mailer)
    if not mailers:
        raise ValueError("at least one mailer is needed")
    pending = iter(jobs)
    writer = _Writer(uow_factory, topic=topic, now=now)

    async def work(m: Mailer) -> None:
        for job in pending:  # a shared iterator: each job goes to exactly one mailer
            await _deliver(uow_factory, m, job, writer, now=now)

    try:
        results = await asyncio.gather(*(work(m) for m in mailers), return_exceptions=True)
    except BaseException:
        writer.abandon()
        raise
    failures = [r for r in results if isinstance(r, BaseException)]
    if any(not isinstance(r, Exception) for r in failures):
        writer.abandon()  # the worker is dying (cancelled, killed): write nothing more
    else:
        await writer.close()
    if failures:
        raise failures[0]
    if writer.error is not None:
        raise writer.error
    return taken


@dataclass(frozen=True)
class Recovered:
    requeued: int
    assumed_sent: int


async def recover_interrupted(
    uow_factory: UowFactory,
    *,
    older_than: timedelta,
    topic: str,
    now: datetime | None = None,
) -> Recovered:
    """Sends left in ``sending`` for longer than ``older_than`` (their worker stopped):

    - without the in-data marker, back to ``queued`` (due now): DATA was never issued, so
      nothing was delivered, and they go out once;
    - with it, ``sent`` with "outcome unknown" and ``email.sent``: never sent again.
    """
    now = now or datetime.now(UTC)
    cutoff = now - older_than
    requeued = assumed = 0
    async with uow_factory() as uow:
        rows = (
            (
                await uow.session.execute(
                    select(_sends)
                    .where(
                        _sends.c.status == "sending",
                        (_sends.c.claimed_at < cutoff) | _sends.c.claimed_at.is_(None),
                    )
                    .with_for_update(skip_locked=True)
                )
            )
            .mappings()
            .all()
        )
        for row in rows:
            if row["last_error"] == IN_DATA:
                at = row["claimed_at"] or now
                await _set(
                    uow.session,
                    row["id"],
                    status="sent",
                    sent_at=at,
                    last_error=UNKNOWN_AFTER_CRASH,
                )
                await uow.emit(
                    topic,
                    _sent_event(
                        row, at, to=row["to_email"] or "", subject="", outcome_unknown=True
                    ),
                )
                assumed += 1
            else:
                await _set(
                    uow.session,
                    row["id"],
                    status="queued",
                    next_attempt_at=now,
                    last_error=REQUEUED_AFTER_CRASH,
                )
                requeued += 1
    if requeued or assumed:
        log.warning(
            "recovered interrupted sends: %d requeued (never reached DATA), %d assumed sent",
            requeued,
            assumed,
        )
    return Recovered(requeued, assumed)


async def next_due(uow_factory: UowFactory) -> datetime | None:
    """When the earliest queued send of an active sequence is due (None: no such send)."""
    async with uow_factory() as uow:
        due: datetime | None = await uow.session.scalar(
            select(_sends.c.next_attempt_at)
            .where(
                _sends.c.status == "queued",
                _sends.c.sequence_id.in_(
                    select(models.sequences.c.id).where(models.sequences.c.status == "active")
                ),
            )
            .order_by(_sends.c.next_attempt_at)
            .limit(1)
        )
        return due


async def run_forever(
    uow_factory: UowFactory,
    mailer: Mailer | Sequence[Mailer],
    settings: NurtureSettings,
    *,
    topic: str,
    stop: asyncio.Event | None = None,
    limit: int = 100,
    recover_every: timedelta = timedelta(minutes=1),
    workspace_name: WorkspaceName | None = None,
) -> None:
    """Deliver until ``stop`` is set (or the task is cancelled): a batch right after a full
    one, else when the next queued send is due, but at most ``scheduler_every_seconds``
    later (sends the scheduler queues meanwhile) and at least ``QUICKEST_POLL`` (due sends
    another worker holds); recovery at start and every ``recover_every``. Errors are
    logged and retried (the database may be restarting)."""
    stop = stop or asyncio.Event()
    last_recovery: datetime | None = None
    while not stop.is_set():
        now = datetime.now(UTC)
        taken = 0
        wait = settings.scheduler_every_seconds
        try:
            if last_recovery is None or now - last_recovery >= recover_every:
                await recover_interrupted(
                    uow_factory, older_than=interrupted_after(settings), topic=topic, now=now
                )
                last_recovery = now
            taken = await deliver_due(
                uow_factory,
                mailer,
                settings,
                topic=topic,
                now=now,
                limit=limit,
                workspace_name=workspace_name,
            )
            if taken < limit and (due := await next_due(uow_factory)) is not None:
                until = (due - datetime.now(UTC)).total_seconds()
                wait = min(wait, max(until, QUICKEST_POLL.total_seconds()))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("nurture delivery round failed; retrying")
        if taken < limit:
            await sleep_unless(stop, wait)
