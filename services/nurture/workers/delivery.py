"""The delivery worker: due sends out over SMTP, each at most once, with their events.

``deliver_due`` takes one batch of due sends (``status = 'queued' AND next_attempt_at <=
now``, ``FOR UPDATE SKIP LOCKED``: several workers never take the same row) and, in ONE
transaction per batch, loads what the rules need (``store.sends.load_batch``), asks the
pure delivery decision (``domain.delivery.decide_batch``: deadline, address, suppression,
opt-in, send window, caps, rate, rendering) and writes each fate: skipped (``expired``,
``failed``, ``suppressed``, ``capped``, with the reason), deferred (``next_attempt_at``), or
rendered (``domain.emails``) and CLAIMED: ``status = 'sending'``, ``claimed_at``,
``attempts + 1``.

Claims of one workspace are serialized by a transaction-scoped advisory lock on the
workspace, so caps and the rate hold with several workers (each only waits for another's
short claim transaction, never for its SMTP traffic).

The claim's row updates are written in one statement per kind of change (not one per
row), and the messages are composed straight to wire bytes (``domain.message.compose``).

The batch commits; then the claimed messages go out over the mailer(s) (one SMTP connection
each, reused, all sending at once), following the never-twice protocol of
``adapters/mailer.py``: the ``in-data`` marker of a send is committed before its DATA is
issued, always; the marker is refused when the address was suppressed (an unsubscribe, a
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.nurture.adapters.mailer import IN_DATA, Mailer, Outcome
from services.nurture.domain.config import NurtureConfig
from services.nurture.domain.delivery import (
    Decision,
    Defer,
    DueSend,
    Send,
    after_transient,
    backoff,
    decide_batch,
)
from services.nurture.domain.emails import SendRenderer
from services.nurture.domain.events import email_event, sent_event
from services.nurture.domain.message import Outgoing
from services.nurture.settings import NurtureSettings
from services.nurture.store import sends as store
from shared.db import UnitOfWork
from shared.signals import sleep_unless

log = logging.getLogger(__name__)

UowFactory = Callable[[], UnitOfWork]
WorkspaceName = Callable[[str], str | None]

QUICKEST_POLL = timedelta(milliseconds=50)  # run_forever never polls more often than this
UNKNOWN_AFTER_CRASH = (
    "outcome unknown: worker stopped during the SMTP transaction; not re-sent to avoid a duplicate"
)
UNKNOWN_DURING_DATA = (
    "outcome unknown: the connection failed during DATA ({detail}); "
    "not re-sent to avoid a duplicate"
)
REQUEUED_AFTER_CRASH = "requeued: worker stopped before DATA; nothing had been delivered"


def interrupted_after(settings: NurtureSettings) -> timedelta:
    """How long a claim may stay in ``sending`` before it counts as abandoned: longer than
    any live SMTP transaction (connect, MAIL, RCPT, DATA, each bounded by the timeout)."""
    return timedelta(seconds=5 * settings.smtp_timeout_seconds + 60)


@dataclass
class _Job:
    """A claimed send, rendered, waiting for its SMTP transaction."""

    send: DueSend
    attempts: int  # after the claim: the guard of every later update
    to: str
    subject: str
    message: Outgoing
    zone: ZoneInfo
    config: NurtureConfig

    @property
    def id(self) -> str:
        return self.send.id


# --- claiming ---------------------------------------------------------------------------


async def _claim(
    uow: UnitOfWork,
    settings: NurtureSettings,
    *,
    now: datetime,
    limit: int,
    workspace_name: WorkspaceName | None,
) -> tuple[int, list[_Job]]:
    """Load a batch of due sends, decide (domain.delivery), write the fates."""
    session = uow.session
    due = await store.take_due(session, now=now, limit=limit)
    if not due:
        return 0, []
    batch = await store.load_batch(session, due, now)
    names = {wid: (workspace_name(wid) if workspace_name else None) or wid for wid in batch.configs}
    render = SendRenderer(
        secret=settings.secret_key.get_secret_value(),
        public_url=settings.public_url,
        tracking_url=settings.tracking_url,
        now=now,
        workspace_names=names,
    )
    decisions = decide_batch(due, batch, now, render)
    updates = store.Updates()
    jobs = [
        job
        for send, decision in zip(due, decisions, strict=True)
        if (job := _apply(updates, send, decision, batch.config(send.workspace_id), now))
    ]
    await updates.write(session)
    return len(due), jobs


def _apply(
    updates: store.Updates, send: DueSend, decision: Decision, config: NurtureConfig, now: datetime
) -> _Job | None:
    """The row update of one decision; the job to send when it is a claim."""
    if isinstance(decision, Send):
        attempts = send.attempts + 1
        updates.set(
            send.id,
            status="sending",
            claimed_at=now,
            attempts=attempts,
            to_email=decision.to,
            last_error=None,
        )
        return _Job(
            send, attempts, decision.to, decision.subject, decision.message, decision.zone, config
        )
    if isinstance(decision, Defer):
        updates.set(send.id, next_attempt_at=decision.until, last_error=decision.reason)
    else:
        updates.set(send.id, status=decision.status, last_error=decision.reason)
    return None


# --- sending and recording --------------------------------------------------------------


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
    claims = [(j.send, j.attempts, j.to, False, None) for j in markers] + [
        (
            j.send,
            j.attempts,
            j.to,
            True,
            UNKNOWN_DURING_DATA.format(detail=o.reply) if o.kind == "unknown" else None,
        )
        for j, o in sent
    ]
    hit = await store.mark_and_set_sent(uow.session, claims, marker=IN_DATA, now=now)
    events = []
    for job, outcome in sent:
        if job.id in hit:
            extra = {"outcome_unknown": True} if outcome.kind == "unknown" else {}
            events.append(sent_event(job.send, now, to=job.to, subject=job.subject, **extra))
    await uow.emit(topic, *events)
    return {j.id for j in markers} & hit


async def _suppress_refused(uow: UnitOfWork, jobs: Sequence[_Job]) -> None:
    """Claims whose marker was refused because the address got suppressed after the claim
    end as ``suppressed`` now (nothing was delivered), instead of waiting for recovery."""
    for job in jobs:
        reason = await store.suppression_of(uow.session, job.send.workspace_id, job.to)
        if reason is not None:
            await store.guarded(
                uow.session,
                job.id,
                job.attempts,
                status="suppressed",
                last_error=f"suppressed: {reason}",
            )


async def _record_other(
    uow: UnitOfWork, job: _Job, outcome: Outcome, *, topic: str, now: datetime
) -> None:
    """A transient or permanent outcome (rare: one statement each)."""
    session, send = uow.session, job.send
    if outcome.kind == "transient":
        retry = after_transient(
            outcome.reply,
            attempts=job.attempts,
            now=now,
            deadline=send.deadline,
            zone=job.zone,
            config=job.config,
        )
        if isinstance(retry, Defer):
            await store.guarded(
                session,
                job.id,
                job.attempts,
                status="queued",
                next_attempt_at=retry.until,
                last_error=retry.reason,
            )
        else:
            await store.guarded(
                session, job.id, job.attempts, status=retry.status, last_error=retry.reason
            )
    # permanent: a hard bounce of this address only
    elif await store.guarded(
        session, job.id, job.attempts, status="bounced", last_error=outcome.reply
    ):
        await store.suppress_bounced(session, send.workspace_id, job.to, outcome.reply)
        await uow.emit(
            topic,
            email_event("email.bounced", send, now, kind="hard", detail=outcome.reply, to=job.to),
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
            log.info("send %s: claim lost before DATA; left to its new owner", job.id)
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
                await self._commit(markers, results)
            if self._closing:
                return

    async def _commit(
        self, markers: list[tuple[_Job, asyncio.Future[bool]]], results: list[tuple[_Job, Outcome]]
    ) -> None:
        try:
            got = await self._write([j for j, _ in markers], results)
        except Exception as exc:
            if results:
                log.exception(
                    "recording %d send results failed; recovery will settle them", len(results)
                )
                self.error = exc
            for _, future in markers:
                if not future.done():
                    future.set_exception(exc)
            return
        for job, future in markers:
            if not future.done():
                future.set_result(job.id in got)

    async def _write(self, markers: list[_Job], results: list[tuple[_Job, Outcome]]) -> set[str]:
        self.transactions += 1
        async with self._uow_factory() as uow:
            for job, outcome in results:
                if outcome.kind in ("transient", "permanent"):
                    await _record_other(uow, job, outcome, topic=self._topic, now=self._now)
            sent = [(j, o) for j, o in results if o.kind in ("accepted", "unknown")]
            got = await _mark_and_record_sent(uow, markers, sent, topic=self._topic, now=self._now)
            await _suppress_refused(uow, [j for j in markers if j.id not in got])
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
        log.exception("send %s: could not record the in-data marker", job.id)
        try:
            async with uow_factory() as uow:
                await store.requeue_unmarked(
                    uow.session, job.id, job.attempts, IN_DATA, now + backoff(job.attempts)
                )
        except Exception:
            log.exception("send %s: left in 'sending' for recovery", job.id)
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
    await _send_all(uow_factory, mailers, jobs, topic=topic, now=now)
    return taken


async def _send_all(
    uow_factory: UowFactory, mailers: list[Mailer], jobs: list[_Job], *, topic: str, now: datetime
) -> None:
    """The claimed jobs over the mailers, all at once; results through one writer."""
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
    requeued = assumed = 0
    async with uow_factory() as uow:
        for row in await store.take_interrupted(uow.session, now - older_than):
            if row["last_error"] == IN_DATA:
                at = row["claimed_at"] or now
                await store.set_values(
                    uow.session,
                    row["id"],
                    status="sent",
                    sent_at=at,
                    last_error=UNKNOWN_AFTER_CRASH,
                )
                send = store.due_send(row)
                await uow.emit(
                    topic,
                    sent_event(
                        send, at, to=row["to_email"] or "", subject="", outcome_unknown=True
                    ),
                )
                assumed += 1
            else:
                await store.set_values(
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
        return await store.next_due(uow.session)


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
