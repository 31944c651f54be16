"""Synthetic traffic with a known, documented conversion propensity.

Each simulated person has a persona, fit traits and a latent *intent* (0-1). Their true
probability of converting is, by construction:

    fit    = 0.35*seniority/5 + 0.35*min(log10(employees)/4, 1) + 0.3*(not free mail)
    p_true = sigmoid(-6 + 3*fit + 5*intent)

Behaviour is drawn from the same intent (more visits, pricing and demo pages, forms), so a
model that sees only the behaviour and traits can approach, but not beat, the ranking of
`p_true`: the ROC AUC of `p_true` against the outcomes is the best any model can do.
Converted people end with a `Deal Won` event carrying an amount. Identified people leave
some traits out (title 20%, country 40%, company size 25%, industry 30%), at random.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# persona: (share, intent Beta(a, b), seniority choices, employee range, free-mail share)
PERSONAS: dict[str, tuple[float, tuple[float, float], tuple[int, ...], tuple[int, int], float]] = {
    "enterprise_buyer": (0.15, (4.0, 2.0), (3, 4, 5), (500, 20000), 0.02),
    "smb_owner": (0.20, (2.5, 2.5), (5,), (2, 50), 0.30),
    "practitioner": (0.30, (1.5, 3.0), (1, 2), (20, 5000), 0.15),
    "student": (0.20, (1.0, 6.0), (0, 1), (1, 1), 0.90),
    "job_seeker": (0.15, (1.0, 9.0), (1, 2), (1, 1), 0.80),
}
TITLES = {
    0: None,
    1: "Engineer",
    2: "Marketing Manager",
    3: "Director of Sales",
    4: "VP Marketing",
    5: "CEO",
}
INDUSTRIES = ("software", "finance", "retail", "healthcare", "education", "manufacturing")
COUNTRIES = ("US", "GB", "DE", "FR", "IN", "BR")
PAGES = {
    "home": "/",
    "blog": "/blog/lead-scoring-101",
    "docs": "/docs/quickstart",
    "pricing": "/pricing",
    "demo": "/demo",
    "careers": "/careers",
    "case_study": "/customers/acme",
}


@dataclass
class Person:
    key: str
    persona: str
    intent: float
    fit: float
    p_true: float
    converted: bool
    amount: float
    traits: dict[str, Any]


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def fit_of(seniority: int, employees: int, free_mail: bool) -> float:
    return (
        0.35 * seniority / 5
        + 0.35 * min(math.log10(max(employees, 1)) / 4, 1)
        + 0.3 * (not free_mail)
    )


def true_propensity(fit: float, intent: float) -> float:
    return sigmoid(-6 + 3 * fit + 5 * intent)


def person(rng: random.Random, index: int) -> Person:
    names = list(PERSONAS)
    persona = rng.choices(names, weights=[PERSONAS[n][0] for n in names])[0]
    _, (a, b), seniorities, (low, high), free_share = PERSONAS[persona]
    intent = rng.betavariate(a, b)
    seniority = rng.choice(seniorities)
    employees = int(math.exp(rng.uniform(math.log(low), math.log(high))))
    free_mail = rng.random() < free_share
    fit = fit_of(seniority, employees, free_mail)
    p_true = true_propensity(fit, intent)
    converted = rng.random() < p_true
    company = f"company{index % 997}"
    firm: dict[str, Any] = {
        "name": company,
        "employees": employees,
        "industry": rng.choice(INDUSTRIES),
    }
    traits: dict[str, Any] = {
        "email": f"person{index}@{'gmail.com' if free_mail else company + '.example'}",
        "title": TITLES[seniority],
        "company": firm,
        "country": rng.choice(COUNTRIES),
    }
    # Forms rarely ask for everything: traits go missing, independently of the outcome (so
    # "unknown" never stands for "never identified" in what a model learns).
    for name, share in (("title", 0.2), ("country", 0.4)):
        if rng.random() < share:
            del traits[name]
    for name, share in (("employees", 0.25), ("industry", 0.3)):
        if rng.random() < share:
            del firm[name]
    amount = (
        round(rng.lognormvariate(math.log(2000 + 20 * employees), 0.5), 2) if converted else 0.0
    )
    return Person(f"sim-{index}", persona, intent, fit, p_true, converted, amount, traits)


def journey(rng: random.Random, who: Person, start: datetime, days: int) -> list[dict[str, Any]]:
    """Segment messages for one person, in time order."""
    anonymous_id = f"{who.key}-browser"
    sessions = 1 + _poisson(rng, 1 + 10 * who.intent)
    moments = sorted(
        start + timedelta(seconds=rng.uniform(0, days * 86400)) for _ in range(sessions)
    )
    messages: list[dict[str, Any]] = []
    identified = False
    for at in moments:
        for page in _session_pages(rng, who):
            at += timedelta(seconds=rng.uniform(10, 120))
            messages.append(
                _msg(rng, "page", anonymous_id, at, name=page, properties={"path": PAGES[page]})
            )
        if not identified and rng.random() < 0.15 + 0.6 * who.intent:
            identified = True
            at += timedelta(seconds=30)
            messages.append(
                _msg(
                    rng,
                    "track",
                    anonymous_id,
                    at,
                    event="Form Submitted",
                    properties={"form": "newsletter"},
                )
            )
            messages.append(
                _msg(rng, "identify", anonymous_id, at, userId=who.key, traits=who.traits)
            )
    if who.converted:
        # The sale names both ids (so the browser's history joins the customer) and carries
        # no traits: being a customer must not leak into the features through an identify.
        at = moments[-1] + timedelta(days=rng.uniform(1, 10))
        won = {"userId": who.key, "event": "Deal Won", "properties": {"amount": who.amount}}
        messages.append(_msg(rng, "track", anonymous_id, at, **won))
    return messages


def _session_pages(rng: random.Random, who: Person) -> list[str]:
    pages = ["home"]
    extra = {
        "blog": 0.5,
        "docs": 0.3 if who.persona != "job_seeker" else 0.1,
        "case_study": 0.1 + 0.3 * who.intent,
        "pricing": 0.05 + 0.6 * who.intent,
        "demo": 0.02 + 0.35 * who.intent,
        "careers": 0.7 if who.persona == "job_seeker" else 0.03,
    }
    pages += [page for page, chance in extra.items() if rng.random() < chance]
    return pages


def _msg(
    rng: random.Random, kind: str, anonymous_id: str | None, at: datetime, **fields: Any
) -> dict[str, Any]:
    message = {
        "type": kind,
        "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "timestamp": at.isoformat(),
        **fields,
    }
    if anonymous_id:
        message["anonymousId"] = anonymous_id
    return message


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


@dataclass
class Simulation:
    people: list[Person]
    messages: list[dict[str, Any]]

    def propensity_by_key(self) -> dict[str, float]:
        """True propensity by every key a person is seen under (userId and browser id)."""
        keys = {p.key: p.p_true for p in self.people}
        return keys | {f"{p.key}-browser": p.p_true for p in self.people}

    def truth(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in asdict(p).items() if k != "traits"} for p in self.people]


def simulate(
    leads: int, *, days: int = 60, seed: int = 7, end: datetime | None = None
) -> Simulation:
    """`leads` people over the `days` before `end`, reproducible from `seed`."""
    rng = random.Random(seed)
    end = end or datetime.now(UTC)
    start = end - timedelta(days=days)
    people = [person(rng, i) for i in range(leads)]
    messages = [m for who in people for m in journey(rng, who, start, days - 10)]
    messages.sort(key=lambda m: m["timestamp"])
    return Simulation(people, messages)
