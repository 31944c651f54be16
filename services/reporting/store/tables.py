"""Tables of the reporting service, all in its own PostgreSQL schema: read models kept up to
date from the topics (never recomputed from all events per query).

Every table is written idempotently: a replayed event changes nothing even after the inbox
forgot it (first/least timestamps, upserts keyed by the event, counters bumped only for
touchpoints seen for the first time in `touches`).
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    text,
)

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

# One row per lead: when it reached each funnel stage (entering a later stage counts, see
# domain/stages.py), deal amounts, and its first touch. A lead folded into another by
# lead.merged keeps its row with `merged_into` set and is left out of every report.
leads = Table(
    "leads",
    metadata,
    Column("workspace_id", String, primary_key=True),
    Column("lead_id", String, primary_key=True),
    Column("merged_into", String),
    Column("subscriber_at", DateTime(timezone=True)),
    Column("lead_at", DateTime(timezone=True)),
    Column("mql_at", DateTime(timezone=True)),
    Column("sql_at", DateTime(timezone=True)),
    Column("opportunity_at", DateTime(timezone=True)),
    Column("customer_at", DateTime(timezone=True)),
    Column("disqualified_at", DateTime(timezone=True)),
    Column("recycled_at", DateTime(timezone=True)),
    Column("won_at", DateTime(timezone=True)),  # its own first customer entry
    Column("won_amount", Float),  # amount carried by that entry
    Column("opportunity_entered_at", DateTime(timezone=True)),
    Column("opportunity_amount", Float),  # amount carried by the first opportunity entry
    Column("first_touch_at", DateTime(timezone=True)),
    Column("first_touch_id", String),  # breaks ties between touches at the same instant
    Column("source", String),
    Column("medium", String),
    Column("campaign", String),
    # The nurture sequences it was ever enrolled in, sorted (kept with `enrollments`): the
    # funnel's sequence breakdown reads them here instead of joining every enrollment.
    Column("sequences", ARRAY(String)),
    # Only the leads that reached the stage: reports read them by a range on the column
    # (which implies IS NOT NULL), and NULLs cost every new version of a row (0039).
    *(
        Index(
            f"ix_leads_{column}",
            "workspace_id",
            column,
            postgresql_where=text(f"{column} IS NOT NULL"),
        )
        for column in (
            "subscriber_at",
            "lead_at",
            "mql_at",
            "sql_at",
            "opportunity_at",
            "customer_at",
        )
    ),
    Index("ix_leads_first_seen", "workspace_id", text("least(first_touch_at, subscriber_at)")),
    # The consumer looks up, per batch, which of its leads were merged away: few are.
    Index(
        "ix_leads_merged",
        "workspace_id",
        "lead_id",
        postgresql_where=text("merged_into IS NOT NULL"),
        postgresql_include=["merged_into"],
    ),
)

# Attribution credit per lead and conversion (MQL, SQL, customer reached at `at`): one row
# per UTM touch at or before it, or one `(none)` row without any (store/projections/credits.py).
lead_credits = Table(
    "lead_credits",
    metadata,
    Column("workspace_id", String, nullable=False),
    Column("lead_id", String, nullable=False),
    Column("stage", String, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("first_source", String, nullable=False),
    Column("first_campaign", String, nullable=False),
    Column("source", String, nullable=False),
    Column("campaign", String, nullable=False),
    Column("last", Boolean, nullable=False),
    Column("share", Float, nullable=False),
    Index(
        "ix_lead_credits_period",
        "workspace_id",
        "stage",
        "at",
        postgresql_include=[
            "first_source",
            "first_campaign",
            "source",
            "campaign",
            "last",
            "share",
        ],
    ),
    Index("ix_lead_credits_lead", "workspace_id", "lead_id"),
)

# Which lead an identity key names: "lead:<id>", "user:<userId>", "email:<address>",
# "anon:<anonymousId>" (from the LeadFacts every lead event carries, and lead.merged).
lead_keys = Table(
    "lead_keys",
    metadata,
    Column("workspace_id", String, primary_key=True),
    Column("key", String, primary_key=True),
    Column("lead_id", String, nullable=False),
    Index("ix_lead_keys_lead", "workspace_id", "lead_id", postgresql_include=["key"]),
)

# Every touchpoint once (its id makes replays harmless), under its strongest identity key,
# with its UTM source/medium/campaign when it carried one.
touches = Table(
    "touches",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", String, nullable=False),
    Column("key", String, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("type", String, nullable=False),
    Column("source", String),
    Column("medium", String),
    Column("campaign", String),
    # Attribution reads a lead's UTM touches only.
    Index(
        "ix_touches_utm",
        "workspace_id",
        "key",
        "at",
        postgresql_where=text("source IS NOT NULL"),
        postgresql_include=["source", "campaign", "id"],
    ),
)

# The first touch of each identity key (folded into its lead's row once the key is linked).
key_touches = Table(
    "key_touches",
    metadata,
    Column("workspace_id", String, primary_key=True),
    Column("key", String, primary_key=True),
    Column("first_at", DateTime(timezone=True), nullable=False),
    Column("first_id", String, nullable=False),
    Column("source", String),
    Column("medium", String),
    Column("campaign", String),
)

# Touchpoints per 15-minute bucket and type: every IANA zone's offset is a multiple of
# 15 minutes, so local days are exact unions of buckets.
touch_volume = Table(
    "touch_volume",
    metadata,
    Column("workspace_id", String, primary_key=True),
    Column("bucket", DateTime(timezone=True), primary_key=True),
    Column("type", String, primary_key=True),
    Column("touches", Integer, nullable=False),
    # Room on each page: the counters of the current buckets are updated every poll, and
    # `touches` is not indexed, so those updates stay on their page (HOT).
    postgresql_with={"fillfactor": 90},
)

# Enrollments in nurture sequences (from enrollment.* on the email-events topic).
enrollments = Table(
    "enrollments",
    metadata,
    Column("workspace_id", String, primary_key=True),
    Column("enrollment_id", String, primary_key=True),
    Column("lead_id", String, nullable=False),
    Column("sequence_id", String, nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("exit_reason", String),  # "completed" or nurture's exit reason ("stage:sql", ...)
    Index("ix_enrollments_lead", "workspace_id", "lead_id"),
    Index(  # the nurture report's goals (nurture.GOAL)
        "ix_enrollments_goal",
        "workspace_id",
        "lead_id",
        "sequence_id",
        postgresql_where=text("exit_reason LIKE 'stage:%' OR exit_reason LIKE 'event:%'"),
    ),
)

# One row per email send: what happened to it, first time each (email.* events, and the
# email.opened / email.clicked touchpoints, in whatever order they arrive).
email_sends = Table(
    "email_sends",
    metadata,
    Column("workspace_id", String, primary_key=True),
    Column("send_id", String, primary_key=True),
    Column("lead_id", String),
    Column("sequence_id", String),
    Column("step_id", String),
    Column("variant_id", String),
    Column("sent_at", DateTime(timezone=True)),
    Column("bounced_at", DateTime(timezone=True)),
    Column("opened_at", DateTime(timezone=True)),
    Column("clicked_at", DateTime(timezone=True)),
    Column("unsubscribed_at", DateTime(timezone=True)),
    Index("ix_email_sends_sent", "workspace_id", "sent_at"),
)

# A campaign's cost over a period of days (POST /v1/campaign-costs); spread evenly per day.
campaign_costs = Table(
    "campaign_costs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workspace_id", String, nullable=False),
    Column("campaign", String, nullable=False),
    Column("start", Date, nullable=False),
    Column("end", Date, nullable=False),
    Column("amount", Float, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
