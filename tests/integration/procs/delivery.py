"""A nurture delivery worker for kill tests: `python -m tests.integration.procs.delivery`.

The real delivery loop (`delivery.run_forever`) on the nurture tables of one schema, with
real SMTP connections, and fault points the test picks:

--die before-smtp:K   SIGKILL at the Kth send, before any SMTP command of it;
--die after-accept:K  SIGKILL right after the server accepted the Kth message, before its
                      result is recorded;
--stalled-dir D       touch D/<pid> when an SMTP transaction takes longer than 3 seconds,
                      so the test can kill this worker while the server keeps it waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from services.nurture.adapters.mailer import Mailer, Outcome
from services.nurture.settings import NurtureSettings
from services.nurture.store import tables as models
from services.nurture.workers import delivery
from shared.db import UnitOfWork, create_engine, create_session_factory
from shared.signals import stop_on_signals


def add_faults(die: str, stalled_dir: Path | None) -> None:
    mode, _, at = die.partition(":")
    kth = int(at or 0)
    calls = 0
    original = Mailer.send

    async def send(self: Mailer, message: Any, **kwargs: Any) -> Outcome:
        nonlocal calls
        calls += 1
        if mode == "before-smtp" and calls == kth:
            os.kill(os.getpid(), signal.SIGKILL)
        sending = asyncio.ensure_future(original(self, message, **kwargs))
        done, _ = await asyncio.wait([sending], timeout=3)
        if not done and stalled_dir is not None:
            (stalled_dir / str(os.getpid())).touch()
        outcome = await sending
        if mode == "after-accept" and calls >= kth and outcome.kind == "accepted":
            os.kill(os.getpid(), signal.SIGKILL)
        return outcome

    Mailer.send = send  # type: ignore[method-assign]


async def main(args: argparse.Namespace) -> None:
    settings = NurtureSettings()
    engine = create_engine(os.environ["DATABASE_URL"], pool_size=4).execution_options(
        schema_translate_map={"nurture": args.schema}
    )
    sessions = create_session_factory(engine)

    def uow() -> UnitOfWork:
        return UnitOfWork(sessions, inbox=models.inbox, outbox=models.outbox)

    mailers = [Mailer.from_settings(settings) for _ in range(settings.smtp_connections)]
    stop = asyncio.Event()
    stop_on_signals(stop.set)
    if args.ready_file:  # SIGTERM from now on is a clean stop
        Path(args.ready_file).touch()  # noqa: ASYNC240  (once, before the loop starts)
    try:
        await delivery.run_forever(uow, mailers, settings, topic=args.topic, stop=stop, limit=20)
    finally:
        for mailer in mailers:
            await mailer.close()
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--schema", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--die", default="none")
    parser.add_argument("--stalled-dir", type=Path)
    parser.add_argument("--ready-file")
    args = parser.parse_args()
    add_faults(args.die, args.stalled_dir)
    asyncio.run(main(args))
