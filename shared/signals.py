"""Clean shutdown of worker processes on SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable


def stop_on_signals(*stops: Callable[[], None]) -> None:
    """Call each `stop` on SIGTERM or SIGINT; the workers then finish and commit."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: [stop() for stop in stops])
