"""An outbox relay process for kill tests: `python -m tests.integration.procs.relay`."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from shared.bus import KafkaPublisher, create_producer
from shared.db import OutboxRelay, create_engine
from shared.signals import stop_on_signals
from tests.integration.support import TestSchema


async def main(args: argparse.Namespace) -> None:
    engine = create_engine(os.environ["DATABASE_URL"])
    producer = create_producer(os.environ["KAFKA_BOOTSTRAP_SERVERS"], client_id="relay-test")
    await producer.start()
    relay = OutboxRelay(
        engine, TestSchema(args.schema).outbox, KafkaPublisher(producer), batch_size=args.batch_size
    )
    stop_on_signals(relay.stop)
    if args.ready_file:  # SIGTERM from now on is a clean stop (not the default kill)
        Path(args.ready_file).touch()  # noqa: ASYNC240  (once, before the loop starts)
    try:
        await relay.run()
    finally:
        await producer.stop()
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--schema", required=True)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--ready-file", help="touched once SIGTERM stops the relay cleanly")
    asyncio.run(main(parser.parse_args()))
