import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import TopicPartition
from sqlalchemy.exc import OperationalError
from tenacity import wait_none

from shared.bus import BatchHandler, ConsumerRunner, DeadLetterSink, per_message
from shared.errors import PermanentError
from shared.events import Envelope, encode
from tests.fakes import FakeConsumer, FakePublisher, record

TOPIC = "t.touchpoints"
TP0 = TopicPartition(TOPIC, 0)
TP1 = TopicPartition(TOPIC, 1)


def event(n: int) -> bytes:
    return encode(
        Envelope(
            type="track",
            workspace_id="ws",
            lead_key=f"lead-{n}",
            occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
            payload={"message_id": f"m{n}", "event": "Clicked"},
        )
    )


async def run_until_drained(runner: ConsumerRunner, consumer: FakeConsumer) -> None:
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(consumer.drained.wait(), 5)
    runner.stop()
    await asyncio.wait_for(task, 5)


def make_runner(
    consumer: FakeConsumer, handler: Any, publisher: FakePublisher, *, batch: bool = False
) -> ConsumerRunner:
    return ConsumerRunner(
        consumer,
        topics=[TOPIC],
        group="g",
        handler=handler if batch else per_message(handler),
        deadletters=DeadLetterSink(publisher, "t.deadletter"),
        service="test",
        max_attempts=3,
        retry_wait=wait_none(),
    )


async def test_applies_each_message_then_commits_the_next_offset() -> None:
    seen: list[str] = []
    commits_when_handled: list[int] = []
    consumer = FakeConsumer(
        [
            {TP0: [record(TOPIC, 0, event(0)), record(TOPIC, 1, event(1))]},
            {TP1: [record(TOPIC, 7, event(2), partition=1)]},
        ]
    )

    async def handler(env: Envelope) -> None:
        commits_when_handled.append(len(consumer.commits))
        seen.append(env.lead_key)

    await run_until_drained(make_runner(consumer, handler, FakePublisher()), consumer)
    assert seen == ["lead-0", "lead-1", "lead-2"]
    # Nothing is committed while a batch is being handled; each batch's commit follows it.
    assert commits_when_handled == [0, 0, 1]
    assert consumer.committed() == {TP0: 2, TP1: 8}
    assert consumer.stopped


async def test_undecodable_messages_go_to_the_dead_letter_topic_with_the_reason() -> None:
    publisher = FakePublisher()
    consumer = FakeConsumer(
        [{TP0: [record(TOPIC, 0, b"{broken", key=b"k"), record(TOPIC, 1, event(1))]}]
    )
    handled: list[Envelope] = []

    async def handler(env: Envelope) -> None:
        handled.append(env)

    await run_until_drained(make_runner(consumer, handler, publisher), consumer)
    (letter,) = [orjson.loads(v) for v in publisher.on("t.deadletter")]
    assert letter["reason"].startswith("invalid envelope")
    assert letter["value"] == "{broken"
    assert (letter["source_topic"], letter["partition"], letter["offset"]) == (TOPIC, 0, 0)
    assert len(handled) == 1  # the good message after it still went through
    assert consumer.committed() == {TP0: 2}


async def test_a_failing_handler_is_retried_then_dead_lettered() -> None:
    publisher = FakePublisher()
    calls = 0

    async def handler(env: Envelope) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("boom")

    consumer = FakeConsumer([{TP0: [record(TOPIC, 0, event(0))]}])
    await run_until_drained(make_runner(consumer, handler, publisher), consumer)
    assert calls == 3
    (letter,) = [orjson.loads(v) for v in publisher.on("t.deadletter")]
    assert letter["reason"] == "handler failed: boom"
    assert letter["error_type"] == "ValueError"


async def test_permanent_errors_are_not_retried() -> None:
    publisher = FakePublisher()
    calls = 0

    async def handler(env: Envelope) -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("lead belongs to another workspace")

    consumer = FakeConsumer([{TP0: [record(TOPIC, 0, event(0))]}])
    await run_until_drained(make_runner(consumer, handler, publisher), consumer)
    assert calls == 1
    assert len(publisher.on("t.deadletter")) == 1


async def test_a_database_outage_is_waited_out_not_dead_lettered() -> None:
    publisher = FakePublisher()
    calls = 0

    async def handler(env: Envelope) -> None:
        nonlocal calls
        calls += 1
        if calls <= 5:  # more failures than max_attempts: only transient errors get that many
            raise OperationalError("select 1", {}, ConnectionRefusedError("db down"))

    consumer = FakeConsumer([{TP0: [record(TOPIC, 0, event(0))]}])
    await run_until_drained(make_runner(consumer, handler, publisher), consumer)
    assert calls == 6
    assert publisher.on("t.deadletter") == []
    assert consumer.committed() == {TP0: 1}


async def test_revoked_partitions_are_committed_before_they_go() -> None:
    async def handler(env: Envelope) -> None:
        return None

    consumer = FakeConsumer(
        [{TP0: [record(TOPIC, 0, event(0))], TP1: [record(TOPIC, 3, event(1), partition=1)]}, {}]
    )
    runner = make_runner(consumer, handler, FakePublisher())
    # Make the batch's own commit a no-op so only the revocation can commit.
    original_commit = runner.commit

    async def commit_only_on_revoke(only: set[TopicPartition] | None = None) -> None:
        if only is not None:
            await original_commit(only)

    runner.commit = commit_only_on_revoke  # type: ignore[method-assign]
    consumer.revoke_before_batch[1] = {TP1}
    await run_until_drained(runner, consumer)
    assert consumer.commits == [{TP1: 4}]


async def test_stop_finishes_the_current_batch_commits_it_and_takes_no_more() -> None:
    handled: list[str] = []
    consumer = FakeConsumer(
        [{TP0: [record(TOPIC, i, event(i)) for i in range(3)]}, {TP0: [record(TOPIC, 3, event(3))]}]
    )
    runner: ConsumerRunner

    async def handler(env: Envelope) -> None:
        handled.append(env.lead_key)
        runner.stop()

    runner = make_runner(consumer, handler, FakePublisher())
    await asyncio.wait_for(runner.run(), 5)
    assert handled == ["lead-0", "lead-1", "lead-2"]
    assert consumer.committed() == {TP0: 3}
    assert consumer.stopped


async def test_a_batch_handler_gets_each_partitions_records_together() -> None:
    batches: list[list[str]] = []

    async def handler(envelopes: Sequence[Envelope]) -> None:
        batches.append([e.lead_key for e in envelopes])

    consumer = FakeConsumer(
        [
            {
                TP0: [record(TOPIC, i, event(i)) for i in range(3)],
                TP1: [record(TOPIC, 0, event(9), partition=1)],
            }
        ]
    )
    await run_until_drained(make_runner(consumer, handler, FakePublisher(), batch=True), consumer)
    assert batches == [["lead-0", "lead-1", "lead-2"], ["lead-9"]]
    assert consumer.committed() == {TP0: 3, TP1: 1}


async def test_a_failing_batch_is_retried_one_by_one_so_only_the_bad_one_dies() -> None:
    publisher = FakePublisher()
    applied: list[str] = []

    async def handler(envelopes: Sequence[Envelope]) -> None:
        if any(e.lead_key == "lead-1" for e in envelopes):
            raise ValueError("lead-1 is poison")
        applied.extend(e.lead_key for e in envelopes)

    consumer = FakeConsumer([{TP0: [record(TOPIC, i, event(i)) for i in range(3)]}])
    handler_: BatchHandler = handler
    await run_until_drained(make_runner(consumer, handler_, publisher, batch=True), consumer)
    assert applied == ["lead-0", "lead-2"]
    (letter,) = [orjson.loads(v) for v in publisher.on("t.deadletter")]
    assert (letter["offset"], letter["reason"]) == (1, "handler failed: lead-1 is poison")
    assert consumer.committed() == {TP0: 3}


class OwningConsumer(FakeConsumer):
    """A FakeConsumer that knows which partitions it owns."""

    def __init__(self, batches: Any, owned: set[TopicPartition]) -> None:
        super().__init__(batches)
        self.owned = owned

    def assignment(self) -> set[TopicPartition]:
        return set(self.owned)


def prefetching_runner(consumer: FakeConsumer, handler: BatchHandler) -> ConsumerRunner:
    return ConsumerRunner(
        consumer,
        topics=[TOPIC],
        group="g",
        handler=handler,
        deadletters=DeadLetterSink(FakePublisher(), "t.deadletter"),
        service="test",
        whole_poll=True,
        prefetch=True,
        retry_wait=wait_none(),
    )


async def test_prefetch_decodes_the_next_poll_while_the_batch_is_applied() -> None:
    batches: list[list[str]] = []
    polls_taken: list[int] = []
    consumer = OwningConsumer(
        [
            {TP0: [record(TOPIC, 0, event(0))], TP1: [record(TOPIC, 0, event(1), partition=1)]},
            {TP0: [record(TOPIC, 1, b"{broken"), record(TOPIC, 2, event(2))]},
            {TP1: [record(TOPIC, 1, event(3), partition=1)]},
        ],
        owned={TP0, TP1},
    )

    async def handler(envelopes: Sequence[Envelope]) -> None:
        await asyncio.sleep(0.01)  # the database at work
        polls_taken.append(consumer._served)
        batches.append([e.lead_key for e in envelopes])

    await run_until_drained(prefetching_runner(consumer, handler), consumer)
    # Whole polls, in order, the undecodable record left out; the next poll was already
    # taken while each batch was applied.
    assert batches == [["lead-0", "lead-1"], ["lead-2"], ["lead-3"]]
    assert polls_taken == [2, 3, 3]
    assert consumer.committed() == {TP0: 3, TP1: 2}


async def test_prefetched_records_of_a_partition_revoked_meanwhile_are_left() -> None:
    batches: list[list[str]] = []
    consumer = OwningConsumer(
        [
            {TP0: [record(TOPIC, 0, event(0))]},
            {TP0: [record(TOPIC, 1, event(1))], TP1: [record(TOPIC, 5, event(2), partition=1)]},
        ],
        owned={TP0, TP1},
    )

    async def handler(envelopes: Sequence[Envelope]) -> None:
        batches.append([e.lead_key for e in envelopes])
        consumer.owned.discard(TP1)  # a rebalance gave TP1 to another member meanwhile

    await run_until_drained(prefetching_runner(consumer, handler), consumer)
    assert batches == [["lead-0"], ["lead-1"]]
    assert consumer.committed() == {TP0: 2}
