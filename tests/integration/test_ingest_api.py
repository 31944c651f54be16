"""The tracking API against a real ingest service, Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from tests.integration.ingest_server import IngestServer, ingest_server
from tests.integration.support import read_topic, terminate, wait_for


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[IngestServer]:
    async with ingest_server(INGEST_MAX_BATCH_EVENTS="50", INGEST_MAX_EVENT_BYTES="4096") as server:
        yield server


@pytest.fixture(scope="module")
def workspace(server: IngestServer) -> dict[str, str]:
    return server.create_workspace()


@pytest.fixture
async def client(
    server: IngestServer, workspace: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, auth=(workspace["write_key"], "")) as client:
        yield client


async def test_every_message_type_reaches_kafka_acknowledged(
    client: httpx.AsyncClient, server: IngestServer, workspace: dict[str, str], bootstrap: str
) -> None:
    sent_at = datetime.now(UTC) + timedelta(hours=1)  # a client whose clock is an hour fast
    messages = {
        "track": {
            "anonymousId": "anon-1",
            "event": "Viewed Pricing",
            "properties": {"plan": "pro"},
        },
        "identify": {
            "anonymousId": "anon-1",
            "userId": "u-1",
            "traits": {"email": "ada@acme.example"},
        },
        "page": {"anonymousId": "anon-1", "name": "Pricing", "properties": {"path": "/pricing"}},
        "screen": {"userId": "u-1", "name": "Dashboard"},
        "group": {"userId": "u-1", "groupId": "acme", "traits": {"employees": 120}},
        "alias": {"userId": "u-1", "previousId": "anon-1"},
    }
    for kind, message in messages.items():
        message |= {
            "messageId": f"m-{kind}",
            "timestamp": (sent_at - timedelta(seconds=5)).isoformat(),
            "sentAt": sent_at.isoformat(),
        }
        response = await client.post(f"/v1/{kind}", json=message)
        assert (response.status_code, response.json()) == (200, {"success": True}), kind
    # Partitions are read one after the other: find the events by their messageId.
    found = {e.payload["message_id"]: e for e in await server.touchpoints(bootstrap, 6)}
    events = [found[f"m-{kind}"] for kind in messages]
    assert [e.type for e in events] == list(messages)
    track = events[0]
    assert track.workspace_id == workspace["id"]
    assert track.lead_key == "anon-1"
    assert track.payload["event"] == "Viewed Pricing"
    assert track.payload["message_id"] == "m-track"
    # Clock skew corrected: 5 s before it was received, not an hour in the future.
    assert timedelta(seconds=4) < track.received_at - track.occurred_at < timedelta(seconds=6)
    assert events[1].payload["traits"] == {"email": "ada@acme.example"}
    assert events[5].payload["previous_id"] == "anon-1"


async def test_batch_gzip_and_write_key_in_the_body(
    server: IngestServer, workspace: dict[str, str], bootstrap: str
) -> None:
    body = {
        "writeKey": workspace["write_key"],
        "batch": [{"type": "track", "userId": f"b-{i}", "event": "Batched"} for i in range(20)],
    }
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post(
            "/v1/batch",
            content=gzip.compress(orjson.dumps(body)),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
    assert response.json() == {"success": True}
    events = await server.touchpoints(bootstrap)
    assert {f"b-{i}" for i in range(20)} <= {e.payload.get("user_id") for e in events}


async def test_a_batch_with_bad_messages_accepts_the_good_and_dead_letters_the_bad(
    client: httpx.AsyncClient, server: IngestServer, bootstrap: str
) -> None:
    batch = [
        {"type": "track", "userId": "good-1", "event": "Fine"},
        {"type": "track", "event": "No identity"},
        {"type": "launch", "userId": "x"},
        {"type": "page", "anonymousId": "good-2", "timestamp": "not a time"},
        {"type": "page", "anonymousId": "good-3"},
    ]
    response = await client.post("/v1/batch", json={"batch": batch})
    assert response.status_code == 200
    rejected = response.json()["rejected"]
    assert [r["index"] for r in rejected] == [1, 2, 3]
    assert rejected[0]["errors"] == [
        {"field": "userId", "message": "either userId or anonymousId is required"}
    ]
    assert rejected[2]["errors"][0]["field"] == "timestamp"
    events = await server.touchpoints(bootstrap)
    ids = {e.payload.get("user_id") or e.payload.get("anonymous_id") for e in events}
    assert {"good-1", "good-3"} <= ids
    assert "good-2" not in ids
    letters = [orjson.loads(r.value) for r in await read_topic(bootstrap, server.topics.deadletter)]
    reasons = [letter["reason"] for letter in letters]
    assert any(r.startswith("message 2 rejected: type unknown type 'launch'") for r in reasons)
    assert any(orjson.loads(letter["value"]).get("event") == "No identity" for letter in letters)


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/v1/track", b'{"userId": "u", ', 400, "invalid JSON"),
        ("/v1/track", b'{"event": "x"}', 400, "invalid message"),
        ("/v1/identify", b"", 400, "request body is empty"),
        (
            "/v1/batch",
            b'{"batch": [{"type": "track", "event": "x"}]}',
            400,
            "every message in the batch was rejected",
        ),
        (
            "/v1/track",
            orjson.dumps({"userId": "u", "event": "big", "properties": {"s": "x" * 5000}}),
            413,
            "4096-byte limit per event",
        ),
        (
            "/v1/batch",
            orjson.dumps({"batch": [{"type": "track", "userId": "u", "event": "e"}] * 51}),
            413,
            "over the limit of 50",
        ),
        (
            "/v1/batch",
            b'{"batch": ['
            + b",".join(
                [b'{"type":"page","userId":"u","properties":{"p":"' + b"x" * 3000 + b'"}}'] * 200
            )
            + b"]}",
            413,
            "limit of 512000 bytes",
        ),
    ],
)
async def test_bad_input_gets_a_clear_error(
    client: httpx.AsyncClient, path: str, body: bytes, status: int, error: str
) -> None:
    response = await client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert response.json()["success"] is False
    assert error in response.json()["error"]


async def test_a_gzip_bomb_is_refused(client: httpx.AsyncClient) -> None:
    bomb = gzip.compress(b'{"batch": [' + b" " * 50_000_000 + b"]}", compresslevel=9)
    response = await client.post("/v1/batch", content=bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "decompressed" in response.json()["error"]


async def test_keys_are_checked(server: IngestServer, workspace: dict[str, str]) -> None:
    track = {"userId": "u", "event": "e"}
    async with httpx.AsyncClient(base_url=server.url) as anonymous:
        missing = await anonymous.post("/v1/track", json=track)
        wrong = await anonymous.post("/v1/track", json=track, auth=("wk_nope", ""))
        secret = await anonymous.post("/v1/track", json=track, auth=(workspace["api_key"], ""))
    assert (missing.status_code, wrong.status_code, secret.status_code) == (401, 401, 401)
    assert missing.headers["WWW-Authenticate"].startswith("Basic")
    assert "missing write key" in missing.json()["error"]
    assert wrong.json()["error"] == "invalid write key"
    assert "API key cannot send events" in secret.json()["error"]


async def test_a_rotated_key_stops_working_within_seconds(server: IngestServer) -> None:
    ws = server.create_workspace()
    rotated = server.leadflow("workspace", "rotate-key", ws["id"], "--kind", "write")
    assert rotated["write_key"] != ws["write_key"]
    async with httpx.AsyncClient(base_url=server.url) as client:

        async def switched() -> bool:
            old = await client.post(
                "/v1/track", json={"userId": "u", "event": "e"}, auth=(ws["write_key"], "")
            )
            new = await client.post(
                "/v1/track", json={"userId": "u", "event": "e"}, auth=(rotated["write_key"], "")
            )
            return old.status_code == 401 and new.status_code == 200

        await wait_for(switched, within=10, what="the rotated key to be honoured")


async def test_origins_and_cors(server: IngestServer) -> None:
    ws = server.create_workspace("--allowed-origin", "https://shop.example")
    track = {"writeKey": ws["write_key"], "anonymousId": "a", "event": "e"}
    async with httpx.AsyncClient(base_url=server.url) as client:
        await wait_for(
            lambda: _accepts(client, track), within=10, what="the new workspace to be known"
        )
        allowed = await client.post(
            "/v1/track", json=track, headers={"Origin": "https://shop.example"}
        )
        denied = await client.post(
            "/v1/track", json=track, headers={"Origin": "https://evil.example"}
        )
        preflight = await client.options(
            "/v1/batch",
            headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
        )
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert denied.status_code == 403
    assert "Access-Control-Allow-Origin" not in denied.headers
    assert preflight.status_code == 204
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]


async def _accepts(client: httpx.AsyncClient, track: dict[str, str]) -> bool:
    return (await client.post("/v1/track", json=track)).status_code == 200


async def test_same_message_id_is_the_same_event(
    client: httpx.AsyncClient, server: IngestServer, bootstrap: str
) -> None:
    message = {"userId": "dup", "event": "Paid", "messageId": "dup-1"}
    for _ in range(3):
        assert (await client.post("/v1/track", json=message)).status_code == 200
    events = [
        e for e in await server.touchpoints(bootstrap) if e.payload.get("message_id") == "dup-1"
    ]
    # Three deliveries of one event id: every consumer's inbox applies it once.
    assert len(events) == 3
    assert len({e.id for e in events}) == 1


async def test_ip_truncation_and_no_key_in_logs(bootstrap: str) -> None:
    # A server of its own: stopped before its log is read, so the log is complete (a fixed
    # sleep would only hope the lines that might hold a key were written by then).
    async with ingest_server() as server:
        ws = server.create_workspace("--truncate-ip")
        async with httpx.AsyncClient(base_url=server.url, auth=(ws["write_key"], "")) as client:
            await wait_for(
                lambda: _accepts(
                    client, {"userId": "private", "event": "e", "context": {"ip": "198.51.100.23"}}
                ),
                within=10,
                what="accepted",
            )
        events = [
            e for e in await server.touchpoints(bootstrap) if e.payload.get("user_id") == "private"
        ]
        assert server.proc is not None
        await terminate(server.proc)  # exited (uvicorn re-raises the SIGTERM it handled)
        log = server.log_text()
    assert events[0].payload["context"]["ip"] == "198.51.100.0"
    assert "ingest" in log  # the log is there and was written to
    assert ws["write_key"] not in log
    assert ws["api_key"] not in log


async def test_leadflow_events_shows_what_arrived(
    client: httpx.AsyncClient, server: IngestServer, workspace: dict[str, str]
) -> None:
    assert (
        await client.post("/v1/track", json={"userId": "shown", "event": "Seen In Tail"})
    ).status_code == 200
    args = [
        "events",
        "touchpoints",
        "--from-beginning",
        "--workspace",
        workspace["id"],
        "--idle-exit",
        "2",
    ]
    out = await asyncio.to_thread(server.run_cli, *args)
    lines = [orjson.loads(line) for line in out.splitlines()]
    assert lines
    assert {e["workspace_id"] for e in lines} == {workspace["id"]}
    assert "Seen In Tail" in {e["payload"].get("event") for e in lines}
