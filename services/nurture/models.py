"""Tables of the nurture service, all in its own PostgreSQL schema."""

from __future__ import annotations

from sqlalchemy import MetaData

from shared.db import inbox_table, outbox_table

metadata = MetaData(schema="nurture")
inbox = inbox_table(metadata)
outbox = outbox_table(metadata)
