"""The real scoring service for kill tests: `python -m tests.integration.procs.scoring --port P`.

As `leadflow serve scoring`, with one fault point more: --die-at-commit N kills the process
with SIGKILL at its Nth offset commit that has offsets to commit, i.e. after the database
commit of the batches those offsets cover and before Kafka hears of it (the window a random
kill from outside rarely hits). Its periodic maintenance (decay, stalled leads, purge) is
off: it works from the wall clock, so a run with it could not be compared with a clean run
over the same events.
"""

from __future__ import annotations

import argparse
import os
import signal

import uvicorn
from aiokafka import TopicPartition

from services.scoring import main
from services.scoring.workers import maintenance
from shared.bus import ConsumerRunner


def die_at_commit(n: int) -> None:
    original = ConsumerRunner.commit
    seen = 0

    async def commit(self: ConsumerRunner, only: set[TopicPartition] | None = None) -> None:
        nonlocal seen
        if self._pending and only is None:
            seen += 1
            if seen >= n:
                os.kill(os.getpid(), signal.SIGKILL)
        await original(self, only)

    ConsumerRunner.commit = commit  # type: ignore[method-assign]


async def no_maintenance(*args: object) -> None:
    return None


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--die-at-commit", type=int, default=0)
    args = parser.parse_args()
    if args.die_at_commit:
        die_at_commit(args.die_at_commit)
    maintenance.run_forever = no_maintenance  # type: ignore[assignment]
    uvicorn.run(
        main.create_app,
        factory=True,
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        access_log=False,
    )
