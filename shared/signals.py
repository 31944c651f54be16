"""Clean shutdown of worker processes on SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable


def stop_on_signals(*stops: Callable[[], None]) -> None:
    """Call each `stop` on SIGTERM or SIGINT; the workers then finish and commit."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: [stop() for stop in stops])


async def sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`, waking as soon as `stop` is set; True if it is (time to
    return). Periodic loops use it instead of asyncio.sleep, so they stop promptly."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
