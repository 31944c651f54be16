"""Tables of the ingest service, all in its own PostgreSQL schema."""

from __future__ import annotations

from sqlalchemy import MetaData

from shared.db import inbox_table, outbox_table

metadata = MetaData(schema="ingest")
inbox = inbox_table(metadata)
outbox = outbox_table(metadata)
