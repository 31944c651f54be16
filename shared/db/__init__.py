"""PostgreSQL: engine, unit of work with inbox and outbox, relay, migrations."""

from shared.db.engine import create_engine, create_session_factory, driver_connection, schema_of
from shared.db.messaging import inbox_table, outbox_table
from shared.db.relay import OutboxRelay
from shared.db.uow import UnitOfWork

__all__ = [
    "OutboxRelay",
    "UnitOfWork",
    "create_engine",
    "create_session_factory",
    "driver_connection",
    "inbox_table",
    "outbox_table",
    "schema_of",
]
