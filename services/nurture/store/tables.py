"""Tables of the nurture service, all in its own PostgreSQL schema.

- templates, sequences (+ immutable versions): what marketers configure;
- leads: nurture's own copy of what lead events say of a person (no reads of scoring's
  tables), enough to render templates and evaluate triggers, branches and exits;
- enrollments: a lead in a sequence version, with its progress (sequences.Progress) and when
  the scheduler should look at it next;
- sends: one row per email step of an enrollment, its unique send key claimed before any
  SMTP call, and its fate;
- suppressions: addresses that must never be mailed (unsubscribed, bounced, complaint, manual);
- workspace_settings: time zone, send window, caps, sender address.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.db import inbox_table, outbox_table
from shared.db.audit import audit_table

metadata = MetaData(schema="nurture")
inbox = inbox_table(metadata)
outbox = outbox_table(metadata)
# Consent changes (unsubscribes, suppressions added or removed) and erasures.
audit_log = audit_table(metadata)

TS = DateTime(timezone=True)

templates = Table(
    "templates",
    metadata,
    Column("id", String, primary_key=True),
    Column("workspace_id", String, nullable=False),
    Column("name", String, nullable=False),
    Column("subject", Text, nullable=False),
    Column("html", Text, nullable=False, server_default=""),
    Column("text", Text, nullable=False, server_default=""),
    Column("archived", Boolean, nullable=False, server_default="false"),
    Column("created_at", TS, nullable=False, server_default=func.now()),
    Column("updated_at", TS, nullable=False, server_default=func.now()),
    Index("ix_templates_workspace", "workspace_id"),
)

sequences = Table(
    "sequences",
    metadata,
    Column("id", String, primary_key=True),
    Column("workspace_id", String, nullable=False),
    Column("name", String, nullable=False),
    Column(
        "status", String, nullable=False, server_default="draft"
    ),  # draft|active|paused|archived
    Column("current_version", Integer, nullable=False),
    Column("created_at", TS, nullable=False, server_default=func.now()),
    Column("updated_at", TS, nullable=False, server_default=func.now()),
    Index("ix_sequences_workspace", "workspace_id"),
)

# Editing a sequence adds a version; enrollments stay on the version they started with.
sequence_versions = Table(
    "sequence_versions",
    metadata,
    Column("sequence_id", String, ForeignKey("sequences.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("definition", JSONB, nullable=False),  # sequences.SequenceDefinition
    Column("created_at", TS, nullable=False, server_default=func.now()),
)

leads = Table(
    "leads",
    metadata,
    Column("workspace_id", String, primary_key=True),
    Column("lead_id", String, primary_key=True),
    Column("email", String),
    Column("traits", JSONB, nullable=False, server_default="{}"),
    Column("score", SmallInteger),
    Column("fit", SmallInteger),
    Column("engagement", SmallInteger),
    Column("stage", String),
    Column("events", JSONB, nullable=False, server_default="[]"),  # recent [name, at] pairs
    Column("merged_into", String),
    Column("updated_at", TS, nullable=False, server_default=func.now()),
)

# How touchpoints name a lead nurture knows (userId, email), from lead events' facts.
lead_keys = Table(
    "lead_keys",
    metadata,
    Column("workspace_id", String, primary_key=True),
    Column("kind", String, primary_key=True),  # user | email
    Column("value", String, primary_key=True),
    Column("lead_id", String, nullable=False),
)

enrollments = Table(
    "enrollments",
    metadata,
    Column("id", String, primary_key=True),
    Column("workspace_id", String, nullable=False),
    Column("sequence_id", String, nullable=False),
    Column("version", Integer, nullable=False),
    Column("lead_id", String, nullable=False),
    Column("status", String, nullable=False),  # active | completed | exited
    Column("progress", JSONB, nullable=False),  # sequences.Progress
    Column("next_at", TS),  # when the scheduler should look at it; None: waiting on a send
    Column("entered_at", TS, nullable=False),
    Column("ended_at", TS),
    Column("exit_reason", String),
    Column("trigger", String, nullable=False),  # what enrolled it: an event id, or "manual:..."
    UniqueConstraint("sequence_id", "trigger", name="uq_enrollments_trigger"),
    Index("ix_enrollments_due", "next_at", postgresql_where=text("status = 'active'")),
    Index("ix_enrollments_lead", "workspace_id", "lead_id"),
)

sends = Table(
    "sends",
    metadata,
    Column("id", String, primary_key=True),
    Column("send_key", String, nullable=False, unique=True),  # enrollment:step (never twice)
    Column("workspace_id", String, nullable=False),
    Column("enrollment_id", String, nullable=False),
    Column("lead_id", String, nullable=False),
    Column("sequence_id", String, nullable=False),
    Column("version", Integer, nullable=False),
    Column("step_id", String, nullable=False),
    Column("variant_id", String),
    Column("template_id", String, nullable=False),
    Column("to_email", String),
    Column("message_id", String, nullable=False),
    # queued -> sending -> sent | failed | bounced | expired | suppressed | capped
    Column("status", String, nullable=False),
    Column("not_before", TS, nullable=False),
    Column("deadline", TS, nullable=False),
    Column("attempts", SmallInteger, nullable=False, server_default="0"),
    Column("next_attempt_at", TS),
    Column("last_error", Text),
    Column("claimed_at", TS),
    Column("sent_at", TS),
    Column("created_at", TS, nullable=False, server_default=func.now()),
    # engagement, from ingest's open pixel and click links, and the unsubscribe endpoint
    Column("opens", Integer, nullable=False, server_default="0"),
    Column("clicks", Integer, nullable=False, server_default="0"),
    Column("opened_at", TS),
    Column("clicked_at", TS),
    Column("unsubscribed_at", TS),
    Index("ix_sends_due", "next_attempt_at", postgresql_where=text("status = 'queued'")),
    Index("ix_sends_lead", "workspace_id", "lead_id", "sent_at"),
    Index("ix_sends_workspace_sent", "workspace_id", "sent_at"),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("workspace_id", String, primary_key=True),
    Column("email", String, primary_key=True),  # lower-cased
    Column("reason", String, nullable=False),  # unsubscribed | bounced | complaint | manual
    Column("detail", Text, nullable=False, server_default=""),
    Column("created_at", TS, nullable=False, server_default=func.now()),
)

workspace_settings = Table(
    "workspace_settings",
    metadata,
    Column("workspace_id", String, primary_key=True),
    Column("config", JSONB, nullable=False),  # config.NurtureConfig
    Column("updated_at", TS, nullable=False, server_default=func.now()),
)
