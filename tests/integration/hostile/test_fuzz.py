"""Schemathesis against every service's OpenAPI, in-process (the real apps on the real
PostgreSQL and Kafka, tests/integration/stack.py), with workspace A's valid keys so the
generated requests get past authentication: no server error, every answer matches its
documented schema and content type, and invalid input (negative mode) gets a 4xx.

Each operation gets positive examples with random path ids, positive examples on A's real
objects (a lead, template, sequence, enrollment, ...) so they reach past the 404, and
negative examples. `make test`: FUZZ_EXAMPLES (5) of each kind per operation; `make soak`:
FUZZ_SOAK_EXAMPLES (300 of each kind, up to 900 per operation).

Schemathesis is used as a library (strategies per operation, driven by Hypothesis here):
its pytest loader reads a private attribute that pytest 9 no longer has.
"""

from __future__ import annotations

import os
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure, FailureGroup

from tests.integration.hostile.conftest import Tenants

QUICK_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
SOAK_EXAMPLES = int(os.environ.get("FUZZ_SOAK_EXAMPLES", "300"))
SERVICES = ("ingest", "scoring", "nurture", "reporting")
# Documented status codes are FastAPI's 200/422 only (401/403/404/409 are stated in the
# descriptions); the answers' schemas and media types are what clients rely on.
CHECKS = [
    "not_a_server_error",
    "response_schema_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
]


@dataclass
class Findings:
    examples: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # one example per (operation, check)
    no_invalid_input: list[str] = field(default_factory=list)

    def summary(self, service: str) -> str:
        per_op = statistics.median(self.examples.values()) if self.examples else 0
        return (
            f"fuzz {service}: {len(self.examples)} operations, {sum(self.examples.values())} "
            f"requests (median {per_op:.0f} per operation), "
            f"statuses {dict(sorted(self.statuses.items()))}, "
            f"{len(self.failures)} distinct failures; no invalid input possible for "
            f"{self.no_invalid_input}"
        )


def _config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {"checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}}}
    )


def _known_ids(tenants: Tenants, path: str) -> dict[str, str] | None:
    """A's real ids for every path parameter of `path`, or None if one is unknown."""
    ids = {**tenants.a_objects.ids, "token": tenants.a_objects.ids["open_token"]}
    if path.startswith("/v1/models/"):
        ids["version"] = tenants.a_objects.ids["model_version"]
    if path.startswith("/u/"):
        ids["token"] = tenants.a_objects.ids["unsubscribe_token"]
    names = re.findall(r"\{([^}:]+)", path)
    if not names or any(n not in ids for n in names):
        return None
    return {n: ids[n] for n in names}


def fuzz(tenants: Tenants, service: str, examples: int) -> Findings:
    app = tenants.stack.app(service)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config())
    if service == "ingest":  # the tracking API takes the write key (HTTP Basic)
        auth: dict[str, Any] = {"auth": (tenants.a.write_key, "")}
    else:
        auth = {"headers": tenants.a.auth}
    found = Findings()
    for result in schema.get_all_operations():
        operation = result.ok()
        _run(operation.label, operation.as_strategy(GenerationMode.POSITIVE), examples, auth, found)
        ids = _known_ids(tenants, operation.path)
        if ids is not None:
            real = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=ids)
            _run(operation.label, real, examples, auth, found)
        try:
            negative = operation.as_strategy(GenerationMode.NEGATIVE)
            _run(operation.label, negative, examples, auth, found)
        except Unsatisfiable:
            found.no_invalid_input.append(operation.label)  # nothing to get wrong (no input)
    return found


def _run(
    label: str,
    strategy: st.SearchStrategy[Any],
    examples: int,
    auth: dict[str, Any],
    found: Findings,
) -> None:
    @given(case=strategy)
    @settings(
        max_examples=examples,
        # `make test` replays the same examples every run (a red build is a regression);
        # the soak run explores new ones each time.
        derandomize=examples < SOAK_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def one(case: schemathesis.Case) -> None:
        found.examples[label] += 1
        response = case.call(**auth)
        found.statuses[response.status_code] += 1
        try:
            case.validate_response(response, headers=auth.get("headers"))
        except (FailureGroup, Failure) as exc:
            failures = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
            for failure in failures:
                key = f"{label} [{type(failure).__name__}: {failure.title}]"
                found.failures.setdefault(
                    key, f"{failure.message[:400]}\n    {case.as_curl_command()[:600]}"
                )

    one()


def _check(tenants: Tenants, service: str, examples: int) -> None:
    found = fuzz(tenants, service, examples)
    print(found.summary(service))
    assert found.examples, f"{service}: no operation fuzzed"
    assert not found.failures, "\n".join(f"{k}\n    {v}" for k, v in found.failures.items())


@pytest.mark.parametrize("service", SERVICES)
def test_fuzz(tenants: Tenants, service: str) -> None:
    _check(tenants, service, QUICK_EXAMPLES)


@pytest.mark.soak
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("service", SERVICES)
def test_fuzz_soak(tenants: Tenants, service: str) -> None:
    _check(tenants, service, SOAK_EXAMPLES)
