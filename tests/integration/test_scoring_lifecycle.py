"""Live scoring and the lifecycle, through the real batch handler on the real database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest.domain.envelopes import envelopes_of
from services.registry import SERVICES
from services.scoring.domain import rules
from services.scoring.domain.config import ScoringConfig, Thresholds
from services.scoring.store import store
from services.scoring.workers import maintenance
from shared.db.migrations import upgrade
from shared.events import Envelope, Topics
from tests.integration.scoring_support import Scoring

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)  # a Monday


def msg(kind: str, minutes: float, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "messageId": uuid.uuid4().hex,
        "timestamp": (T0 + timedelta(minutes=minutes)).isoformat(),
        **fields,
    }


def keen_buyer(anonymous_id: str = "b-1", user_id: str = "u-ceo") -> list[dict[str, Any]]:
    """Visits, signs up as a CEO of a large company, then keeps coming back to pricing/demo."""
    out = [msg("page", 0, anonymousId=anonymous_id, properties={"path": "/"})]
    out.append(
        msg(
            "identify",
            1,
            anonymousId=anonymous_id,
            userId=user_id,
            traits={
                "email": f"{user_id}@bigco.example",
                "title": "CEO",
                "company": {"employees": 5000, "industry": "software"},
            },
        )
    )
    for day in range(4):
        for path in ("/pricing", "/demo", "/customers/acme"):
            out.append(
                msg("page", 60 * 24 * day + 10, anonymousId=anonymous_id, properties={"path": path})
            )
        out.append(
            msg("track", 60 * 24 * day + 12, anonymousId=anonymous_id, event="Demo Form Submitted")
        )
    return out


@pytest.fixture
async def scoring(database_url: str, engine: AsyncEngine, topics: Topics) -> Scoring:
    await upgrade(SERVICES["scoring"].migrations, database_url=database_url, schema="scoring")
    return Scoring(engine, topics.lead_events)


def lifecycle_events(events: list[Any], lead_id: str) -> list[tuple[str | None, str]]:
    return [
        (e.payload["from_stage"], e.payload["to_stage"])
        for e in events
        if e.type == "lead.lifecycle_changed" and e.payload["lead_id"] == lead_id
    ]


async def test_a_keen_buyer_is_scored_explained_and_becomes_an_mql_exactly_once(
    scoring: Scoring,
) -> None:
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    envelopes = envelopes_of(keen_buyer(), ws)
    before = len(await scoring.outbox())
    await scoring.apply(envelopes, batch=3)

    lead = await scoring.lead_by(ws, "user", "u-ceo")
    assert lead["stage"] == "mql"
    assert lead["score"] >= 40
    assert lead["fit"] >= 30
    assert lead["model_version"] == scoring.models.live.version
    assert lead["scored_at"] == envelopes[-1].occurred_at
    factors = lead["factors"]
    assert factors, "a score says why"
    assert [abs(f["points"]) for f in factors] == sorted(
        (abs(f["points"]) for f in factors), reverse=True
    )
    assert all(f["text"].endswith(f"{f['points']:+d}") for f in factors)
    assert any(w in factors[0]["text"] for w in ("forms", "pricing", "buying intent", "tracked")), (
        factors
    )

    stages = await scoring.stages(lead["id"])
    assert [(s["from_stage"], s["stage"]) for s in stages] == [
        (None, "subscriber"),
        ("subscriber", "lead"),
        ("lead", "mql"),
    ]
    assert stages[1]["entered_at"] == envelopes[1].occurred_at  # the identify made a lead
    assert [s["left_at"] for s in stages] == [
        stages[1]["entered_at"],
        stages[2]["entered_at"],
        None,
    ]
    assert "score" in stages[2]["reason"]
    assert stages[2]["score"] >= 40

    events = (await scoring.outbox())[before:]
    assert lifecycle_events(events, lead["id"]) == [
        (None, "subscriber"),
        ("subscriber", "lead"),
        ("lead", "mql"),
    ]
    mql = next(
        e for e in events if e.type == "lead.lifecycle_changed" and e.payload["to_stage"] == "mql"
    )
    assert mql.payload["model_version"] == lead["model_version"]
    assert mql.payload["email"] == "u-ceo@bigco.example"
    scored = [e for e in events if e.type == "lead.scored" and e.payload["lead_id"] == lead["id"]]
    assert scored
    assert scored[-1].payload["score"] == lead["published_score"]
    moves = [abs(a.payload["score"] - (a.payload["previous_score"] or 0)) for a in scored[1:]]
    assert all(m >= ScoringConfig().score_change_to_publish for m in moves)

    # Delivered again (a consumer crash, a client re-sending): nothing changes.
    await scoring.apply(envelopes, batch=5)
    assert len(await scoring.outbox()) == before + len(events)
    assert await scoring.lead(lead["id"]) == lead


async def test_deal_won_makes_a_customer_with_its_amount_and_stages_never_go_back(
    scoring: Scoring,
) -> None:
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    messages = [
        *keen_buyer(),
        msg("track", 60 * 24 * 5, userId="u-ceo", event="Deal Won", properties={"amount": 12500}),
        msg("page", 60 * 24 * 6, anonymousId="b-1", properties={"path": "/careers"}),
    ]
    before = len(await scoring.outbox())
    await scoring.apply(envelopes_of(messages, ws), batch=50)
    lead = await scoring.lead_by(ws, "user", "u-ceo")
    assert lead["stage"] == "customer"
    events = (await scoring.outbox())[before:]
    assert lifecycle_events(events, lead["id"])[-1] == ("mql", "customer")
    won = [
        e
        for e in events
        if e.type == "lead.lifecycle_changed" and e.payload["to_stage"] == "customer"
    ]
    assert won[0].payload["amount"] == 12500
    assert won[0].payload["actor"] == "event"


async def test_anonymous_visitors_stay_subscribers_and_thresholds_are_per_workspace(
    scoring: Scoring,
) -> None:
    loose, usual, anon = (f"ws_{uuid.uuid4().hex[:8]}" for _ in range(3))
    async with scoring.sessions() as session, session.begin():
        await store.save_config(
            session, loose, ScoringConfig(thresholds=Thresholds(mql_score=0, mql_fit=0))
        )
    mild = [
        msg("page", 0, anonymousId="m-1", properties={"path": "/blog/x"}),
        msg("identify", 1, anonymousId="m-1", userId="u-mild", traits={"email": "m@gmail.com"}),
    ]
    for ws in (loose, usual):
        await scoring.apply(envelopes_of(mild, ws))
    assert (await scoring.lead_by(loose, "user", "u-mild"))["stage"] == "mql"
    assert (await scoring.lead_by(usual, "user", "u-mild"))["stage"] == "lead"

    visits = [m for m in keen_buyer() if m["type"] != "identify"]
    await scoring.apply(envelopes_of(visits, anon))
    lead = await scoring.lead_by(anon, "anonymous", "b-1")
    assert lead["stage"] == "subscriber"
    assert not lead["identified"]
    assert lead["score"] is not None


async def test_decay_rescores_idle_leads_and_stalled_mqls_are_flagged_once(
    scoring: Scoring,
) -> None:
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    await scoring.apply(envelopes_of(keen_buyer(), ws))
    lead = await scoring.lead_by(ws, "user", "u-ceo")
    later = lead["scored_at"] + timedelta(days=45)
    async with scoring.uow() as uow:
        looked = await maintenance.rescore_due(
            uow,
            scoring.models,
            topic=scoring.topic,
            now=later,
            stale_before=later - timedelta(hours=1),
        )
    assert looked >= 1
    faded = await scoring.lead(lead["id"])
    assert faded["score"] < lead["score"]
    assert faded["engagement"] < lead["engagement"]
    assert faded["fit"] == lead["fit"]  # who they are does not fade
    assert faded["scored_at"] == later
    assert faded["stage"] == "mql"  # automatic moves only go forward
    events = await scoring.outbox()
    last = [e for e in events if e.type == "lead.scored" and e.payload["lead_id"] == lead["id"]][-1]
    assert last.payload["score"] == faded["score"]

    soon = later + timedelta(minutes=1)
    async with scoring.uow() as uow:  # not due again until rescore_after has passed
        await maintenance.rescore_due(
            uow,
            scoring.models,
            topic=scoring.topic,
            now=soon,
            stale_before=soon - timedelta(hours=1),
        )
    assert (await scoring.lead(lead["id"]))["scored_at"] == later
    for _ in range(2):
        async with scoring.uow() as uow:
            await maintenance.flag_stalled(uow, topic=scoring.topic, now=later)
    stalled = [
        e
        for e in await scoring.outbox()
        if e.type == "lead.stalled" and e.payload["lead_id"] == lead["id"]
    ]
    assert len(stalled) == 1
    assert "48 h" in stalled[0].payload["reason"]
    assert stalled[0].payload["stage"] == "mql"


async def test_anonymous_leads_never_identified_are_purged_after_the_retention(
    scoring: Scoring,
) -> None:
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    await scoring.apply(envelopes_of([*keen_buyer(), msg("page", 5, anonymousId="drifter")], ws))
    drifter = await scoring.lead_by(ws, "anonymous", "drifter")
    known = await scoring.lead_by(ws, "user", "u-ceo")
    async with scoring.uow() as uow:
        purged = await maintenance.purge_anonymous(uow, older_than=T0 + timedelta(days=30))
    assert purged >= 1
    with pytest.raises(NoResultFound):
        await scoring.lead(drifter["id"])
    assert (await scoring.lead(known["id"]))["id"] == known["id"]


async def test_point_rules_keep_a_ledger_whose_sum_is_the_named_score(scoring: Scoring) -> None:
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    config = ScoringConfig.model_validate(
        {
            "point_rules": {
                "rules": [
                    {
                        "id": "c-level",
                        "kind": "fit",
                        "score": "fit_points",
                        "trait": "title",
                        "op": "matches",
                        "value": "ceo|cto",
                        "points": 20,
                    },
                    {
                        "id": "pricing",
                        "kind": "engagement",
                        "score": "engagement_points",
                        "event_type": "page",
                        "path_contains": "/pricing",
                        "points": 10,
                        "cap": 25,
                        "half_life_days": 7,
                    },
                ]
            }
        }
    )
    async with scoring.sessions() as session, session.begin():
        await store.save_config(session, ws, config)
    await scoring.apply(envelopes_of(keen_buyer(), ws), batch=4)
    lead = await scoring.lead_by(ws, "user", "u-ceo")
    async with scoring.sessions() as session:
        ledger = (await store.ledger(session, [lead["id"]]))[lead["id"]]
    assert {e.rule_id for e in ledger} == {"c-level", "pricing"}
    at = lead["last_seen_at"]
    expected = rules.scores(config.point_rules, ledger, at)
    assert 20 < expected["engagement_points"] <= 25 + 1e-9  # the cap holds on what is current
    assert lead["rule_scores"] == {k: round(v, 2) for k, v in expected.items()}
    assert lead["rule_scores"]["fit_points"] == 20


async def test_events_about_no_behaviour_are_skipped_not_dead_lettered(scoring: Scoring) -> None:
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    await scoring.apply(envelopes_of(keen_buyer(), ws))
    lead = await scoring.lead_by(ws, "user", "u-ceo")
    started = Envelope(
        type="enrollment.started",
        workspace_id=ws,
        lead_key=lead["id"],
        occurred_at=T0,
        payload={"lead_id": lead["id"], "enrollment_id": "enr_1", "sequence_id": "s", "version": 1},
    )
    await scoring.apply([started])  # would raise PermanentError (no identifier) if applied
    assert await scoring.lead(lead["id"]) == lead
