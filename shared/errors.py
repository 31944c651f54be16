"""Which failures are worth waiting out (infrastructure) and which are the input's fault."""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaError
from sqlalchemy import exc as sa_exc


class PermanentError(Exception):
    """The input can never be processed (bad data); retrying will not help."""


def is_transient(exc: BaseException) -> bool:
    """True for outages that will pass: database or broker unreachable, restarting, timing out."""
    if isinstance(exc, PermanentError):
        return False
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, KafkaError):
        return bool(getattr(exc, "retriable", False)) or isinstance(exc, OSError)
    transient_pg = (
        asyncpg.PostgresConnectionError,
        asyncpg.CannotConnectNowError,
        asyncpg.InterfaceError,
        asyncpg.exceptions.AdminShutdownError,
    )
    if isinstance(exc, transient_pg):
        return True
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, OSError | TimeoutError | ConnectionError):
        return True
    return cause is not None and cause is not exc and is_transient(cause)
