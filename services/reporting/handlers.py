"""Reporting's consumer: each poll of the three topics it reads (lead events, touchpoints,
email events) applied to the read models in one transaction.

HANDLERS maps each event type to the projection that applies it; a type it does not name is
ignored: workspace.changed, and privacy.erasure_requested (a request about a person, not
something they did: scoring answers it with lead.erased, which reporting applies).
Projections apply a whole poll's events at once (a few statements per poll whatever its
size: docs/decisions/0037), in the order of the map: lead events first (their keys and
merges), then touchpoints, then email and enrollment events; each projection is
order-independent, so this order only saves work. Erasures come last: they re-file what the
same poll brought of the person.

The lead, email and enrollment events of the poll are claimed in the inbox with one
statement; touchpoints are not: `touches` keeps every touch by its event id, so it is their
inbox (a touch already there has no effect, even after the inbox forgot it), and claiming
them too would write each id twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.pseudonyms import Pseudonymize
from services.reporting.store.projections import (
    credits,
    enrollments,
    erasure,
    leads,
    sends,
    touches,
)
from shared.db import UnitOfWork
from shared.events import ENROLLMENT_TYPES, LEAD_TYPES, TOUCHPOINT_TYPES, Envelope

Apply = Callable[[AsyncSession, Sequence[Envelope], Pseudonymize], Awaitable[None]]


@dataclass(frozen=True, eq=False)
class Projection:
    """Writes a read model from a poll's events of the types HANDLERS maps to it."""

    name: str
    apply: Apply
    claimed: bool = True  # its events are claimed in the inbox first (new ones only)


def _keyless(apply: Callable[[AsyncSession, Sequence[Envelope]], Awaitable[None]]) -> Apply:
    """A projection that files nothing under identity keys (needs no pseudonyms)."""

    async def run(session: AsyncSession, events: Sequence[Envelope], _: Pseudonymize) -> None:
        await apply(session, events)

    return run


LEADS = Projection("leads", leads.apply)
TOUCHES = Projection("touches", touches.apply, claimed=False)
SENDS = Projection("sends", _keyless(sends.apply))
ENROLLMENTS = Projection("enrollments", _keyless(enrollments.apply))
ERASURES = Projection("erasures", _keyless(erasure.apply))

HANDLERS: dict[str, Projection] = {
    **dict.fromkeys(sorted(LEAD_TYPES - {"lead.erased"}), LEADS),
    **dict.fromkeys(sorted(TOUCHPOINT_TYPES), TOUCHES),
    # Opens and clicks come on the touchpoints topic: touches of their lead, which the
    # touch projection also gives to the send they belong to.
    "email.opened": TOUCHES,
    "email.clicked": TOUCHES,
    "email.sent": SENDS,
    "email.bounced": SENDS,
    "email.unsubscribed": SENDS,
    **dict.fromkeys(sorted(ENROLLMENT_TYPES), ENROLLMENTS),
    "lead.erased": ERASURES,
}

Batches = dict[Projection, list[Envelope]]


def route(
    envelopes: Iterable[Envelope], handlers: Mapping[str, Projection] = HANDLERS
) -> tuple[list[Envelope], Batches]:
    """(the events to claim in the inbox, in poll order; the others by projection, each id
    once: a poll may carry the same message twice). Unhandled types are left out."""
    claimable: list[Envelope] = []
    unclaimed: dict[Projection, dict[UUID, Envelope]] = {}
    for e in envelopes:
        projection = handlers.get(e.type)
        if projection is None:
            continue
        if projection.claimed:
            claimable.append(e)
            continue
        group = unclaimed.get(projection)
        if group is None:
            group = unclaimed[projection] = {}
        group.setdefault(e.id, e)
    return claimable, {p: list(group.values()) for p, group in unclaimed.items()}


def batches(
    claimed: Iterable[Envelope], unclaimed: Batches, handlers: Mapping[str, Projection] = HANDLERS
) -> list[tuple[Projection, list[Envelope]]]:
    """Each projection with events to apply and its events, in the order of `handlers`."""
    out: Batches = {p: list(events) for p, events in unclaimed.items()}
    for e in claimed:
        out.setdefault(handlers[e.type], []).append(e)
    order = dict.fromkeys(handlers.values())
    return [(p, out[p]) for p in order if out.get(p)]


async def apply_events(
    uow: UnitOfWork,
    envelopes: Sequence[Envelope],
    *,
    pseudonymize: Pseudonymize,
    handlers: Mapping[str, Projection] = HANDLERS,
) -> None:
    """Apply a poll (see the module's doc); the caller commits `uow`."""
    claimable, unclaimed = route(envelopes, handlers)
    claimed = await uow.claim_batch(claimable)
    for projection, events in batches(claimed, unclaimed, handlers):
        await projection.apply(uow.session, events, pseudonymize)
    await credits.flush(uow.session)


async def apply_and_commit(
    uow: UnitOfWork, envelopes: Sequence[Envelope], *, pseudonymize: Pseudonymize
) -> None:
    """The consumer's entry (main.py): one poll, one transaction, committed on leaving."""
    async with uow:
        await apply_events(uow, envelopes, pseudonymize=pseudonymize)
