"""Tables of the reporting service, all in its own PostgreSQL schema: read models kept up to
date from the topics (never recomputed from all events per query)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table

from shared.db import inbox_table, outbox_table

metadata = MetaData(schema="reporting")
inbox = inbox_table(metadata)
outbox = outbox_table(metadata)

# When each lead first entered each lifecycle stage (from lead.lifecycle_changed).
stage_entries = Table(
    "stage_entries",
    metadata,
    Column("workspace_id", String, primary_key=True),
    Column("lead_id", String, primary_key=True),
    Column("stage", String, primary_key=True),
    Column("entered_at", DateTime(timezone=True), nullable=False),
    Index("ix_stage_entries_period", "workspace_id", "stage", "entered_at"),
)
