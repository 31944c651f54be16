"""A consumer process for crash tests: `python -m tests.integration.procs.consumer`.

--crash-after N kills the process with SIGKILL right after the database commit that brings
the events applied to N or more, i.e. after the effect is durable and before the batch's
offsets are committed. --batch applies a batch per transaction instead of an event.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from shared.bus import (
    ConsumerRunner,
    DeadLetterSink,
    KafkaPublisher,
    create_consumer,
    create_producer,
)
from shared.db import create_engine, create_session_factory
from shared.events import Topics
from shared.signals import stop_on_signals
from tests.integration.support import TestSchema


async def main(args: argparse.Namespace) -> None:
    engine = create_engine(os.environ["DATABASE_URL"])
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    schema = TestSchema(args.schema)
    topics = Topics(args.prefix)
    commits = 0

    def after_commit(applied: int) -> None:
        nonlocal commits
        commits += applied
        if args.crash_after and commits >= args.crash_after:
            os.kill(os.getpid(), signal.SIGKILL)

    producer = create_producer(bootstrap, client_id="crash-test")
    await producer.start()
    runner = ConsumerRunner(
        create_consumer(bootstrap, group_id=args.group, client_id="crash-test"),
        topics=[topics.touchpoints],
        group=args.group,
        handler=schema.handler(create_session_factory(engine), after_commit, batch=args.batch),
        deadletters=DeadLetterSink(KafkaPublisher(producer), topics.deadletter),
        service="crash-test",
        batch_size=args.batch_size,
    )
    stop_on_signals(runner.stop)
    try:
        await runner.run()
    finally:
        await producer.stop()
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--schema", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--crash-after", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--batch", action="store_true")
    asyncio.run(main(parser.parse_args()))
