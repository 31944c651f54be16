"""Workspaces as every service sees them: keys (hashed) and settings, from the compacted
`workspaces` topic into a local cache, so a rotated key is honoured everywhere in seconds.

The ingest service owns and edits workspaces (services/ingest/store/workspaces.py); this module
only reads what it publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from shared.bus.admin import topic_partitions
from shared.bus.deadletter import DeadLetter, DeadLetterSink
from shared.events import DecodeError, Envelope, decode, typed_payload
from shared.events.types import WorkspaceChanged

log = logging.getLogger(__name__)

KeyKind = Literal["write", "api"]
KEY_PREFIX: dict[KeyKind, str] = {"write": "wk_", "api": "sk_"}


def new_key(kind: KeyKind) -> str:
    """A random key; `wk_` keys are public (ingest only), `sk_` keys are secret."""
    return KEY_PREFIX[kind] + secrets.token_urlsafe(24)


def hash_key(key: str) -> str:
    """Keys are 192 random bits, so a plain SHA-256 is enough (no slow hash needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class WorkspaceInfo:
    id: str
    name: str
    allowed_origins: tuple[str, ...] = ()
    truncate_ip: bool = False

    def origin_allowed(self, origin: str | None) -> bool:
        """No list means any origin (write keys are public anyway); else it must be listed."""
        return not self.allowed_origins or origin is None or origin in self.allowed_origins


class WorkspaceDirectory:
    """In-memory map of key hashes to workspaces, fed by the compacted workspaces topic."""

    def __init__(self) -> None:
        self._by_write: dict[str, WorkspaceInfo] = {}
        self._by_api: dict[str, WorkspaceInfo] = {}
        self._hashes: dict[str, list[str]] = {}
        self._workspaces: dict[str, WorkspaceInfo] = {}
        # For CORS preflights, which carry no key: who allows which origin.
        self._open: set[str] = set()  # workspaces with no list of origins (any is allowed)
        self._by_origin: dict[str, set[str]] = {}

    def by_write_key(self, key: str) -> WorkspaceInfo | None:
        return self._by_write.get(hash_key(key))

    def by_api_key(self, key: str) -> WorkspaceInfo | None:
        return self._by_api.get(hash_key(key))

    def get(self, workspace_id: str) -> WorkspaceInfo | None:
        return self._workspaces.get(workspace_id)

    def __len__(self) -> int:
        return len(self._workspaces)

    def origin_allowed_anywhere(self, origin: str) -> bool:
        """Does some workspace take requests from this origin (listed, or no list at all)?"""
        return bool(self._open) or origin in self._by_origin

    def _forget_origins(self, info: WorkspaceInfo) -> None:
        self._open.discard(info.id)
        for origin in info.allowed_origins:
            holders = self._by_origin.get(origin, set())
            holders.discard(info.id)
            if not holders:
                self._by_origin.pop(origin, None)

    def _note_origins(self, info: WorkspaceInfo) -> None:
        if not info.allowed_origins:
            self._open.add(info.id)
        for origin in info.allowed_origins:
            self._by_origin.setdefault(origin, set()).add(info.id)

    def apply(self, envelope: Envelope) -> None:
        """Take one workspace.changed event: it replaces everything known of that workspace."""
        change = typed_payload(envelope)
        if not isinstance(change, WorkspaceChanged):
            return
        ws_id = envelope.workspace_id
        for h in self._hashes.pop(ws_id, []):
            self._by_write.pop(h, None)
            self._by_api.pop(h, None)
        old = self._workspaces.pop(ws_id, None)
        if old is not None:
            self._forget_origins(old)
        if change.deleted:
            return
        info = WorkspaceInfo(ws_id, change.name, tuple(change.allowed_origins), change.truncate_ip)
        self._workspaces[ws_id] = info
        self._note_origins(info)
        for h in change.write_key_hashes:
            self._by_write[h] = info
        for h in change.api_key_hashes:
            self._by_api[h] = info
        self._hashes[ws_id] = [*change.write_key_hashes, *change.api_key_hashes]


class WorkspaceFeed:
    """Reads the whole workspaces topic at start, then follows it in the background."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        directory: WorkspaceDirectory,
        *,
        deadletters: DeadLetterSink | None = None,
        service: str = "leadflow",
        group: str | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.directory = directory
        self.deadletters = deadletters
        self.service = service
        self.loaded = asyncio.Event()
        # Every process reads the whole topic from the start (it is the table of workspaces);
        # the group only remembers how far this service has read, so that a bad record is
        # dead-lettered once per service, not at every start.
        self._group = group
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            enable_auto_commit=False,
            fetch_max_wait_ms=200,  # how fast a rotated key is seen
        )
        self._seen: dict[TopicPartition, int] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Returns once every workspace published so far is known."""
        await self._consumer.start()
        partitions = await self._partitions()
        self._consumer.assign(partitions)
        if self._group is not None:
            for tp in partitions:
                self._seen[tp] = await self._consumer.committed(tp) or 0
        await self._consumer.seek_to_beginning(*partitions)
        end = await self._consumer.end_offsets(partitions)
        while [tp for tp in partitions if await self._consumer.position(tp) < end[tp]]:
            await self._take(await self._consumer.getmany(timeout_ms=500))
        self.loaded.set()
        log.info("workspaces loaded", extra={"workspaces": len(self.directory)})
        self._task = asyncio.create_task(self._follow(), name="workspace feed")

    async def _partitions(self) -> list[TopicPartition]:
        partitions = await topic_partitions(self.bootstrap_servers, self.topic)
        if not partitions:
            raise RuntimeError(f"topic {self.topic} not found")
        return partitions

    async def _follow(self) -> None:
        while True:
            await self._take(await self._consumer.getmany(timeout_ms=1000))

    async def _take(self, batches: dict[TopicPartition, list[Any]]) -> None:
        for tp, records in batches.items():
            lettered = True
            for record in records:
                try:
                    self.directory.apply(decode(record.value))
                except DecodeError as exc:
                    log.error("bad workspace record skipped", extra={"reason": str(exc)})
                    if self.deadletters is not None and record.offset >= self._seen.get(tp, 0):
                        try:
                            await self._deadletter(record, exc)
                        except KafkaError as error:  # not committed: the next start retries
                            log.error("dead letter not sent", extra={"error": repr(error)})
                            lettered = False
            if records and lettered and self._group is not None:
                try:
                    await self._consumer.commit({tp: records[-1].offset + 1})
                    self._seen[tp] = records[-1].offset + 1
                except KafkaError as exc:  # keep following; a later commit catches up
                    log.warning("workspace feed offset not committed", extra={"error": repr(exc)})

    async def _deadletter(self, record: Any, exc: DecodeError) -> None:
        assert self.deadletters is not None
        letter = DeadLetter.of_bytes(
            record.value,
            service=self.service,
            reason=str(exc),
            error_type=type(exc).__name__,
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key.decode(errors="replace") if record.key else None,
        )
        await self.deadletters.put(letter, key=record.key)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()
