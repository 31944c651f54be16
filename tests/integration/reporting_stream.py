"""A generated stream of touchpoints, lead events and email events for reporting's tests,
and a brute-force computation of every report from those raw events alone."""

from __future__ import annotations

import copy
import itertools
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from shared.events import Envelope

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
FUNNEL = ["subscriber", "lead", "mql", "sql", "opportunity", "customer"]
UTMS = [
    ("google", "cpc", "spring"),
    ("newsletter", "email", "march-news"),
    ("linkedin", "social", "spring"),
    ("google", "organic", None),
]
WINDOWS = {"subscriber": 30, "lead": 30, "mql": 14, "sql": 30, "opportunity": 60}


@dataclass
class Stream:
    workspace: str
    touchpoints: list[Envelope] = field(default_factory=list)
    lead_events: list[Envelope] = field(default_factory=list)
    email_events: list[Envelope] = field(default_factory=list)


def _env(ws: str, type_: str, key: str, at: datetime, **payload: Any) -> Envelope:
    return Envelope(type=type_, workspace_id=ws, lead_key=key, occurred_at=at, payload=payload)


def generate(ws: str, people: int = 140, seed: int = 11) -> Stream:
    rng = random.Random(seed)
    s = Stream(ws)
    for i in range(people):
        anon, user, email = f"a{i}", f"u{i}", f"p{i}@example.com"
        by_email_only = i % 5 == 0  # identified by email, no userId
        at = DAY0 + timedelta(hours=rng.uniform(-24 * 10, 24 * 60))

        known = (
            {"context": {"traits": {"email": email.upper()}}}
            if by_email_only
            else {"user_id": user}
        )

        def touch(
            kind: str, when: datetime, identified: bool, anon_id: str = anon, known: Any = known
        ) -> None:
            _touch(s, rng, kind, when, anon_id, known if identified else None)

        for _ in range(rng.randint(1, 5)):
            at += timedelta(hours=rng.uniform(0.5, 48))
            touch(rng.choice(["page", "page", "track"]), at, identified=False)
        if i % 7 == 6:
            continue  # never identified: touches only
        at += timedelta(hours=rng.uniform(0.1, 24))
        traits = {"email": email} if by_email_only else {}
        s.touchpoints.append(
            _env(
                ws,
                "identify",
                anon,
                at,
                message_id=uuid.uuid4().hex,
                anonymous_id=anon,
                **({} if by_email_only else {"user_id": user}),
                traits=traits,
            )
        )
        lead = f"ld_{i}"
        facts = {
            "lead_id": lead,
            "email": email if by_email_only or rng.random() < 0.5 else None,
            "traits": {},
            "user_ids": [] if by_email_only else [user],
            "anonymous_ids": [anon],
        }
        path = FUNNEL[: rng.choice([1, 2, 2, 3, 3, 3, 4, 4, 5, 6])]
        if rng.random() < 0.08:
            path = ["subscriber", "lead", "customer"]  # a deal won straight from lead
        when = at
        for stage in path:
            when += timedelta(hours=rng.uniform(0.5, 24 * 12))
            amount = None
            if stage in ("opportunity", "customer") and rng.random() < 0.8:
                amount = float(rng.choice([1000, 2500, 4000, 12000]))
            s.lead_events.append(
                _env(
                    ws,
                    "lead.lifecycle_changed",
                    lead,
                    when,
                    **facts,
                    from_stage=None,
                    to_stage=stage,
                    reason="test",
                    amount=amount,
                )
            )
            for _ in range(rng.randint(0, 2)):  # later visits, identified
                touch("page", when + timedelta(hours=rng.uniform(0, 30)), identified=True)
            if stage == "mql" and rng.random() < 0.7:
                _nurture(s, rng, lead, when, path)
        if path[-1] in ("lead", "mql") and rng.random() < 0.4:
            lost = rng.choice(["disqualified", "recycled"])
            s.lead_events.append(
                _env(
                    ws,
                    "lead.lifecycle_changed",
                    lead,
                    when + timedelta(days=2),
                    **facts,
                    from_stage=path[-1],
                    to_stage=lost,
                    reason="test",
                )
            )
        if i % 9 == 4:  # a second browser of the same person, merged into the lead later
            other, other_anon = f"ld_{i}b", f"a{i}b"
            first = DAY0 + timedelta(hours=rng.uniform(-24 * 12, 24 * 50))
            for n in range(2):
                touch("page", first + timedelta(hours=n), identified=False, anon_id=other_anon)
            other_facts = {"lead_id": other, "traits": {}, "anonymous_ids": [other_anon]}
            s.lead_events.append(
                _env(
                    ws,
                    "lead.lifecycle_changed",
                    other,
                    first + timedelta(hours=3),
                    **other_facts,
                    from_stage=None,
                    to_stage="subscriber",
                    reason="test",
                )
            )
            if i % 18 == 4:  # enrolled before the merge: its sequence counts for the lead
                enrolled = {"lead_id": other, "sequence_id": "seq_trial", "version": 1}
                s.email_events.append(
                    _env(
                        ws,
                        "enrollment.started",
                        other,
                        first + timedelta(hours=4),
                        enrollment_id=f"enr_{other}_trial",
                        trigger="x",
                        **enrolled,
                    )
                )
            s.lead_events.append(
                _env(
                    ws,
                    "lead.merged",
                    lead,
                    when + timedelta(hours=1),
                    lead_id=lead,
                    merged_lead_ids=[other],
                )
            )
        if rng.random() < 0.5:
            s.lead_events.append(
                _env(
                    ws,
                    "lead.scored",
                    lead,
                    when,
                    **facts,
                    score=50,
                    probability=0.5,
                    model_version="m1",
                )
            )
    return s


def _touch(
    s: Stream,
    rng: random.Random,
    kind: str,
    when: datetime,
    anon_id: str,
    known: dict[str, Any] | None,
) -> None:
    """A page view or track of this browser; `known`: the userId or email it names."""
    payload: dict[str, Any] = {"message_id": uuid.uuid4().hex, "anonymous_id": anon_id}
    if known:
        payload |= copy.deepcopy(known)
    utm = rng.choice([*UTMS, None, None])
    if kind == "page" and utm:
        campaign = {"source": utm[0], "medium": utm[1]}
        if utm[2]:
            campaign["name"] = utm[2]
        payload.setdefault("context", {})["campaign"] = campaign
    if kind == "track":
        payload["event"] = "Clicked CTA"
        if utm and rng.random() < 0.5:  # UTM as properties (server-side senders)
            payload["properties"] = {"utm_source": utm[0], "utm_medium": utm[1]}
    s.touchpoints.append(_env(s.workspace, kind, anon_id, when, **payload))


def _nurture(s: Stream, rng: random.Random, lead: str, at: datetime, path: list[str]) -> None:
    ws = s.workspace
    sequence = rng.choice(["seq_welcome", "seq_demo"])
    enrollment = f"enr_{lead}_{sequence}"
    base = {"lead_id": lead, "enrollment_id": enrollment, "sequence_id": sequence, "version": 1}
    start = at + timedelta(minutes=5)
    s.email_events.append(_env(ws, "enrollment.started", lead, start, **base, trigger="x"))
    when = start
    for step in ("welcome", "follow-up"):
        when += timedelta(hours=rng.uniform(1, 72))
        variant = rng.choice(["a", "b"]) if step == "welcome" else None
        send = f"snd_{lead}_{sequence}_{step}"
        who = {"lead_id": lead, "send_id": send, "sequence_id": sequence, "step_id": step}
        full = who | {"version": 1, "variant_id": variant, "template_id": "tpl"}
        if rng.random() < 0.1:
            s.email_events.append(_env(ws, "email.bounced", lead, when, **full, kind="hard"))
            continue
        if rng.random() < 0.1:
            s.email_events.append(_env(ws, "email.bounced", lead, when, **full, kind="soft"))
        s.email_events.append(
            _env(ws, "email.sent", lead, when, **full, to="x@example.com", subject="Hi")
        )
        if rng.random() < 0.6:  # opened (sometimes twice), then maybe clicked
            for n in range(rng.randint(1, 2)):
                s.touchpoints.append(
                    _env(ws, "email.opened", lead, when + timedelta(hours=1 + n), **who)
                )
            if rng.random() < 0.5:
                s.touchpoints.append(
                    _env(
                        ws,
                        "email.clicked",
                        lead,
                        when + timedelta(hours=3),
                        **who,
                        url="https://x.example",
                    )
                )
        if rng.random() < 0.1:
            s.email_events.append(
                _env(ws, "email.unsubscribed", lead, when + timedelta(hours=4), **full)
            )
    if "sql" in path:
        end = _env(
            ws, "enrollment.exited", lead, when + timedelta(hours=5), **base, reason="stage:sql"
        )
    elif rng.random() < 0.5:
        end = _env(ws, "enrollment.completed", lead, when + timedelta(hours=5), **base)
    else:
        end = _env(
            ws, "enrollment.exited", lead, when + timedelta(hours=5), **base, reason="unsubscribed"
        )
    s.email_events.append(end)


# --- brute force: every figure from the raw events, without the read models ---------------


def _touch_key(e: Envelope) -> str:
    p = e.payload
    if e.type.startswith("email."):
        return f"lead:{p['lead_id']}"
    if p.get("user_id"):
        return f"user:{p['user_id']}"
    email = (p.get("traits") or {}).get("email") or (p.get("context", {}).get("traits") or {}).get(
        "email"
    )
    if email:
        return f"email:{email.lower()}"
    return f"anon:{p['anonymous_id']}"


def _utm(e: Envelope) -> tuple[str | None, str | None, str | None]:
    c = e.payload.get("context", {}).get("campaign")
    if c:
        return c["source"], c.get("medium"), c.get("name")
    props = e.payload.get("properties") or {}
    if props.get("utm_source"):
        return props["utm_source"], props.get("utm_medium"), props.get("utm_campaign")
    return None, None, None


@dataclass
class Lead:
    id: str
    entries: dict[str, tuple[datetime, float | None]] = field(default_factory=dict)
    touches: list[Envelope] = field(default_factory=list)

    def reached(self, stage: str) -> datetime | None:
        later = [self.entries[s][0] for s in FUNNEL[FUNNEL.index(stage) :] if s in self.entries]
        return min(later, default=None)

    def lost_at(self) -> list[datetime]:
        return [self.entries[s][0] for s in ("disqualified", "recycled") if s in self.entries]

    def value(self) -> float | None:
        for stage in ("customer", "opportunity"):
            if stage in self.entries and self.entries[stage][1] is not None:
                return self.entries[stage][1]
            if stage == "customer" and stage in self.entries:
                continue
        return None

    def first_touch(self) -> Envelope | None:
        return min(self.touches, key=lambda t: (t.occurred_at, str(t.id)), default=None)

    def first_seen(self) -> datetime | None:
        ft = self.first_touch()
        times = [t for t in (ft.occurred_at if ft else None, self.reached("subscriber")) if t]
        return min(times, default=None)

    def label(self, dim: str) -> str:
        ft = self.first_touch()
        if ft is None:
            return "(unknown)"
        value = dict(zip(("source", "medium", "campaign"), _utm(ft), strict=True))[dim]
        return value or "(none)"


class Truth:
    def __init__(self, s: Stream, as_of: datetime) -> None:
        self.as_of = as_of
        merged = {
            str(m): str(e.payload["lead_id"])
            for e in s.lead_events
            if e.type == "lead.merged"
            for m in e.payload["merged_lead_ids"]
        }

        def canon(lead: str) -> str:
            while lead in merged:
                lead = merged[lead]
            return lead

        self.canon = canon

        self.leads: dict[str, Lead] = {}
        keys: dict[str, str] = {}
        for e in s.lead_events:
            if e.type == "lead.merged":
                continue
            p = e.payload
            lead = self.leads.setdefault(canon(p["lead_id"]), Lead(canon(p["lead_id"])))
            keys[f"lead:{p['lead_id']}"] = lead.id
            keys.update({f"user:{u}": lead.id for u in p.get("user_ids") or ()})
            keys.update({f"anon:{a}": lead.id for a in p.get("anonymous_ids") or ()})
            if p.get("email"):
                keys[f"email:{p['email'].lower()}"] = lead.id
            if e.type == "lead.lifecycle_changed":
                stage = p["to_stage"]
                if stage not in lead.entries or e.occurred_at < lead.entries[stage][0]:
                    lead.entries[stage] = (e.occurred_at, p.get("amount"))
        self.touches = s.touchpoints
        for t in s.touchpoints:
            owner = keys.get(_touch_key(t))
            if owner is not None:
                self.leads[owner].touches.append(t)
        self.email_events = s.email_events

    # funnel -----------------------------------------------------------------------------
    def group_of(self, lead: Lead, breakdown: str | None, tz: str) -> list[str]:
        if breakdown is None:
            return [""]
        if breakdown == "cohort":
            return [self.cohort(lead, "month", tz).isoformat()]
        if breakdown == "sequence":
            seqs = {
                e.payload["sequence_id"]
                for e in self.email_events
                if e.type == "enrollment.started" and self.canon(e.payload["lead_id"]) == lead.id
            }
            return sorted(seqs) or ["(none)"]
        return [lead.label(breakdown)]

    def funnel(self, start: datetime, end: datetime, tz: str, breakdown: str | None) -> Any:
        groups: dict[str, list[Lead]] = defaultdict(list)
        for lead in self.leads.values():
            if lead.reached("subscriber") is None:
                continue
            for g in self.group_of(lead, breakdown, tz):
                groups[g].append(lead)
        out = []
        for g in sorted(groups):
            rows = []
            for i, stage in enumerate(FUNNEL):
                inside = [
                    lead for lead in groups[g] if (at := lead.reached(stage)) and start <= at < end
                ]
                row: dict[str, Any] = {"stage": stage, "reached": len(inside)}
                if i + 1 < len(FUNNEL):
                    nxt = FUNNEL[i + 1]
                    done = [lead for lead in inside if (n := lead.reached(nxt)) and n <= self.as_of]
                    lost = [
                        lead
                        for lead in inside
                        if lead not in done
                        and (
                            any(lead.reached(stage) <= x <= self.as_of for x in lead.lost_at())  # type: ignore[operator]
                            or lead.reached(stage) < self.as_of - timedelta(days=WINDOWS[stage])  # type: ignore[operator]
                        )
                    ]
                    row |= {
                        "converted": len(done),
                        "lost": len(lost),
                        "in_progress": len(inside) - len(done) - len(lost),
                        "window_days": WINDOWS[stage],
                    }
                else:
                    row |= {
                        "converted": None,
                        "lost": None,
                        "in_progress": None,
                        "window_days": None,
                    }
                rows.append(row)
            for i, row in enumerate(rows):
                prev = rows[i - 1]["reached"] if i else 0
                row["conversion_from_previous"] = round(row["reached"] / prev, 4) if prev else None
                top = rows[0]["reached"]
                row["conversion_from_top"] = round(row["reached"] / top, 4) if top else None
            if any(r["reached"] for r in rows):
                drops = [
                    (1 - rows[i]["reached"] / rows[i - 1]["reached"], FUNNEL[i - 1], FUNNEL[i])
                    for i in range(1, len(rows))
                    if rows[i - 1]["reached"]
                ]
                best = max((d[0] for d in drops), default=None)
                worst = next((d for d in drops if d[0] == best), None)
                out.append(
                    {
                        "group": g,
                        "stages": rows,
                        "largest_drop_off": {
                            "from": worst[1],
                            "to": worst[2],
                            "lost_share": round(worst[0], 4),
                        }
                        if worst
                        else None,
                    }
                )
        return out

    # velocity ---------------------------------------------------------------------------
    def velocity(self, start: datetime, end: datetime) -> dict[str, tuple[int, list[float]]]:
        measures: dict[str, list[float]] = defaultdict(list)
        for lead in self.leads.values():
            for a, b in itertools.pairwise(FUNNEL):
                ra, rb = lead.reached(a), lead.reached(b)
                if ra and rb and start <= rb < end:
                    measures[f"time_in_{a}"].append((rb - ra).total_seconds() / 86400)
            first = lead.reached("subscriber")
            for m in ("mql", "sql", "customer"):
                at = lead.reached(m)
                if first and at and start <= at < end:
                    measures[f"first_touch_to_{m}"].append((at - first).total_seconds() / 86400)
        return {
            name: (
                len(v),
                [round(float(np.quantile(v, q)), 3) for q in (0.5, 0.75, 0.9)] if v else [],
            )
            for name, v in measures.items()
        }

    # volume -----------------------------------------------------------------------------
    def volume(self, start: datetime, end: datetime, tz: str) -> list[dict[str, Any]]:
        zone = ZoneInfo(tz)
        counts: dict[tuple[str, str, str], int] = defaultdict(int)
        for t in self.touches:
            if start <= t.occurred_at < end:
                counts[
                    (t.occurred_at.astimezone(zone).date().isoformat(), "touchpoints", t.type)
                ] += 1
        for lead in self.leads.values():
            at = lead.reached("subscriber")
            if at and start <= at < end:
                counts[(at.astimezone(zone).date().isoformat(), "new_leads", "")] += 1
        return [
            {"date": d, "measure": m, "type": k, "count": n}
            for (d, m, k), n in sorted(
                counts.items(), key=lambda kv: (kv[0][0], kv[0][1] != "new_leads", kv[0][2])
            )
        ]

    # cohorts ----------------------------------------------------------------------------
    def cohort(self, lead: Lead, unit: str, tz: str) -> date:
        first = lead.first_seen()
        assert first is not None
        local = first.astimezone(ZoneInfo(tz)).date()
        if unit == "week":
            return local - timedelta(days=local.weekday())
        return local.replace(day=1)

    def cohorts(self, start: datetime, end: datetime, tz: str, unit: str) -> list[dict[str, Any]]:
        zone = ZoneInfo(tz)
        members: dict[date, list[Lead]] = defaultdict(list)
        for lead in self.leads.values():
            first = lead.first_seen()
            if first and start <= first < end:
                members[self.cohort(lead, unit, tz)].append(lead)

        def boundary(c: date, k: int) -> datetime:  # local start of age k
            if unit == "week":
                day = c + timedelta(weeks=k)
            else:
                day = date(c.year + (c.month - 1 + k) // 12, (c.month - 1 + k) % 12 + 1, 1)
            return datetime(day.year, day.month, day.day)

        now = self.as_of.astimezone(zone).replace(tzinfo=None)
        out = []
        for c in sorted(members):
            k = 0
            while boundary(c, k) <= now:
                row: dict[str, Any] = {"cohort": c.isoformat(), "age": k, "leads": len(members[c])}
                for stage in FUNNEL[1:]:
                    row[f"reached_{stage}"] = sum(
                        1
                        for lead in members[c]
                        if (at := lead.reached(stage))
                        and at <= self.as_of
                        and at.astimezone(zone).replace(tzinfo=None) < boundary(c, k + 1)
                    )
                for stage in FUNNEL[1:]:
                    row[f"share_{stage}"] = round(row[f"reached_{stage}"] / len(members[c]), 4)
                out.append(row)
                k += 1
        return out

    # attribution ------------------------------------------------------------------------
    def attribution(self, start: datetime, end: datetime) -> dict[tuple[str, str, str, str], float]:
        credit: dict[tuple[str, str, str, str], float] = defaultdict(float)
        for stage in ("mql", "sql", "customer"):
            for lead in self.leads.values():
                at = lead.reached(stage)
                if not (at and start <= at < end):
                    continue
                utm_touches = sorted(
                    (t for t in lead.touches if _utm(t)[0] and t.occurred_at <= at),
                    key=lambda t: (t.occurred_at, str(t.id)),
                )
                for dim, index in (("source", 0), ("campaign", 2)):
                    credit[(stage, "first_touch", dim, lead.label(dim))] += 1
                    if not utm_touches:
                        credit[(stage, "last_touch", dim, "(none)")] += 1
                        credit[(stage, "linear", dim, "(none)")] += 1
                        continue
                    credit[
                        (stage, "last_touch", dim, _utm(utm_touches[-1])[index] or "(none)")
                    ] += 1
                    for t in utm_touches:
                        credit[(stage, "linear", dim, _utm(t)[index] or "(none)")] += 1 / len(
                            utm_touches
                        )
        return credit

    # revenue ----------------------------------------------------------------------------
    def revenue(
        self,
        start: datetime,
        end: datetime,
        tz: str,
        costs: dict[str, float],
    ) -> list[dict[str, Any]]:
        out = []
        for dim in (None, "source", "campaign", "cohort"):
            groups: dict[str, list[Lead]] = defaultdict(list)
            for lead in self.leads.values():
                if lead.reached("subscriber") is None:
                    continue
                if dim == "cohort":
                    g = self.cohort(lead, "month", tz).isoformat()
                else:
                    g = lead.label(dim) if dim else ""
                groups[g].append(lead)
            if dim == "campaign":
                for c in costs:
                    groups.setdefault(c, [])

            def inside(lead: Lead, stage: str) -> bool:
                at = lead.reached(stage)
                return bool(at and start <= at < end)

            for g in sorted(groups):
                members = groups[g]
                leads = sum(inside(m, "subscriber") for m in members)
                mqls = sum(inside(m, "mql") for m in members)
                customers = [m for m in members if inside(m, "customer")]
                if not (leads or mqls or customers) and not (dim == "campaign" and g in costs):
                    continue
                values = [v for m in customers if (v := m.value()) is not None]
                cost = (
                    costs.get(g)
                    if dim == "campaign"
                    else (sum(costs.values()) if dim is None and costs else None)
                )

                def per(n: int, cost: float | None = cost) -> float | None:
                    return round(cost / n, 2) if cost is not None and n else None

                out.append(
                    {
                        "dimension": dim or "all",
                        "value": g,
                        "leads": leads,
                        "mqls": mqls,
                        "customers": len(customers),
                        "revenue": round(sum(values), 2),
                        "average_sale_value": round(sum(values) / len(values), 2)
                        if values
                        else None,
                        "cost": None if cost is None else round(cost, 2),
                        "cost_per_lead": per(leads),
                        "cost_per_mql": per(mqls),
                        "cost_per_customer": per(len(customers)),
                    }
                )
        return out

    # nurture ----------------------------------------------------------------------------
    def nurture(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        sends: dict[str, dict[str, Any]] = {}
        kinds = {
            "email.sent": "sent",
            "email.bounced": "bounced",
            "email.opened": "opened",
            "email.clicked": "clicked",
            "email.unsubscribed": "unsubscribed",
        }
        for e in [*self.email_events, *self.touches]:
            kind = kinds.get(e.type)
            if kind is None or (kind == "bounced" and e.payload.get("kind") == "soft"):
                continue
            send = sends.setdefault(e.payload["send_id"], {"variant": None})
            send["lead"], send["sequence"], send["step"] = (
                e.payload["lead_id"],
                e.payload["sequence_id"],
                e.payload["step_id"],
            )
            if e.payload.get("variant_id"):
                send["variant"] = e.payload["variant_id"]
            if kind not in send or e.occurred_at < send[kind]:
                send[kind] = e.occurred_at
        goal = {
            (e.payload["lead_id"], e.payload["sequence_id"])
            for e in self.email_events
            if e.type == "enrollment.exited"
            and e.payload["reason"].startswith(("stage:", "event:"))
        }
        rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        leads_of: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        zero = {
            k: 0
            for k in (
                "enrolled",
                "sent",
                "opened",
                "clicked",
                "unsubscribed",
                "bounced",
                "reached_goal",
            )
        }
        for send in sends.values():
            at = send.get("sent") or send.get("bounced")
            if not (at and start <= at < end):
                continue
            for key in (
                (send["sequence"], "", ""),
                (send["sequence"], send["step"], send["variant"] or ""),
            ):
                row = rows.setdefault(key, dict(zero))
                if "sent" in send:
                    row["sent"] += 1
                    for k in ("opened", "clicked", "unsubscribed"):
                        row[k] += k in send
                row["bounced"] += "bounced" in send
                if key[1]:
                    leads_of[key].add(send["lead"])
        for key, leads in leads_of.items():
            rows[key]["enrolled"] = len(leads)
            rows[key]["reached_goal"] = sum((lead, key[0]) in goal for lead in leads)
        for e in self.email_events:
            if e.type == "enrollment.started" and start <= e.occurred_at < end:
                row = rows.setdefault((e.payload["sequence_id"], "", ""), dict(zero))
                row["enrolled"] += 1
                row["reached_goal"] += (e.payload["lead_id"], e.payload["sequence_id"]) in goal

        def r(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        return [
            {
                "sequence_id": k[0],
                "step_id": k[1],
                "variant_id": k[2],
                **v,
                "open_rate": r(v["opened"], v["sent"]),
                "click_rate": r(v["clicked"], v["sent"]),
                "unsubscribe_rate": r(v["unsubscribed"], v["sent"]),
                "bounce_rate": r(v["bounced"], v["sent"] + v["bounced"]),
                "goal_rate": r(v["reached_goal"], v["enrolled"]),
            }
            for k, v in sorted(rows.items())
        ]

    # forecast ---------------------------------------------------------------------------
    def forecast(self, start: datetime, end: datetime, horizon: int) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for before, after in (("lead", "mql"), ("mql", "sql"), ("sql", "customer")):
            observed = [
                lead
                for lead in self.leads.values()
                if (at := lead.reached(before)) and start <= at < end
            ]
            times = sorted(
                int((lead.reached(after) - lead.reached(before)).total_seconds() // 86400)  # type: ignore[operator]
                for lead in observed
                if (n := lead.reached(after)) and n <= self.as_of
            )
            p = len(times) / len(observed) if observed else 0.0

            def cdf(days: float, times: list[int] = times) -> float:
                return sum(1 for t in times if t <= days) / len(times)

            total = 0.0
            for lead in self.leads.values():
                at = lead.reached(before)
                nxt = lead.reached(after)
                if not at or at > self.as_of or (nxt and nxt <= self.as_of):
                    continue
                if any(at <= x <= self.as_of for x in lead.lost_at()):
                    continue
                if not times or p == 0:
                    continue
                age = int((self.as_of - at).total_seconds() // 86400)
                remaining = 1 - p * cdf(age)
                if remaining > 0:
                    total += p * (cdf(age + horizon) - cdf(age)) / remaining
            out[after] = round(total, 2)
        values = [
            v
            for lead in self.leads.values()
            if (at := lead.reached("customer"))
            and start <= at < end
            and (v := lead.value()) is not None
        ]
        customers_in_period = [
            lead
            for lead in self.leads.values()
            if (at := lead.reached("customer")) and start <= at < end
        ]
        out["revenue"] = (
            round(out["customer"] * (sum(values) / len(values)), 2)
            if values and customers_in_period
            else None
        )  # type: ignore[operator]
        return out
