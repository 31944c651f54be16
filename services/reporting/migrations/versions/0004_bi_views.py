"""Read-only SQL views over the read models, for BI tools that connect to PostgreSQL, and
the role `leadflow_bi` that may read them (and nothing else). docs/operations.md: "BI access"."""

from alembic import op

from shared.db.migrations import current_schema

revision = "reporting_0004"
down_revision = "reporting_0003"
branch_labels = None
depends_on = None

ROLE = "leadflow_bi"


def views(s: str) -> dict[str, str]:
    return {
        # One row per lead (merged leads left out): when it reached each stage (entering a
        # later stage counts), lost, sale value, first touch and its UTM values.
        "bi_leads": f"""
            SELECT workspace_id, lead_id, subscriber_at, lead_at, mql_at, sql_at,
                   opportunity_at, customer_at, disqualified_at, recycled_at,
                   coalesce(won_amount, opportunity_amount) AS sale_value,
                   least(first_touch_at, subscriber_at) AS first_seen_at, first_touch_at,
                   CASE WHEN first_touch_at IS NULL THEN '(unknown)'
                        ELSE coalesce(source, '(none)') END AS first_touch_source,
                   CASE WHEN first_touch_at IS NULL THEN '(unknown)'
                        ELSE coalesce(medium, '(none)') END AS first_touch_medium,
                   CASE WHEN first_touch_at IS NULL THEN '(unknown)'
                        ELSE coalesce(campaign, '(none)') END AS first_touch_campaign
              FROM "{s}".leads WHERE merged_into IS NULL""",
        # Each lead's first entry into each stage it entered itself.
        "bi_stage_entries": f"""
            SELECT e.workspace_id, e.lead_id, e.stage, e.entered_at
              FROM "{s}".stage_entries e""",
        # Touchpoints per 15 minutes (UTC) and type.
        "bi_touch_volume": f"""
            SELECT workspace_id, bucket AS bucket_start, type, touches
              FROM "{s}".touch_volume""",
        # Touches with a UTM source, with the lead they belong to (null: not known yet).
        "bi_utm_touches": f"""
            SELECT t.workspace_id, k.lead_id, t.at, t.type, t.source, t.medium, t.campaign
              FROM "{s}".touches t
              LEFT JOIN "{s}".lead_keys k ON k.workspace_id = t.workspace_id AND k.key = t.key
             WHERE t.source IS NOT NULL""",
        "bi_enrollments": f"""
            SELECT workspace_id, enrollment_id, lead_id, sequence_id, started_at, ended_at,
                   exit_reason,
                   (exit_reason LIKE 'stage:%' OR exit_reason LIKE 'event:%') AS reached_goal
              FROM "{s}".enrollments""",
        "bi_email_sends": f"""
            SELECT workspace_id, send_id, lead_id, sequence_id, step_id, variant_id, sent_at,
                   bounced_at, opened_at, clicked_at, unsubscribed_at
              FROM "{s}".email_sends""",
        "bi_campaign_costs": f"""
            SELECT workspace_id, campaign, start AS first_day, "end" AS last_day, amount,
                   recorded_at
              FROM "{s}".campaign_costs""",
    }


def upgrade() -> None:
    schema = current_schema()
    # Roles belong to the whole cluster: create it once, whoever gets there first; a
    # database user without CREATEROLE gets the views and a notice instead.
    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
                CREATE ROLE {ROLE} NOLOGIN;
            END IF;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'role {ROLE} not created: no CREATEROLE privilege';
        END $$;
        """
    )
    for name, query in views(schema).items():
        op.execute(f'CREATE OR REPLACE VIEW "{schema}".{name} AS {query}')
    names = ", ".join(f'"{schema}".{name}' for name in views(schema))
    op.execute(
        f"""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
                GRANT USAGE ON SCHEMA "{schema}" TO {ROLE};
                GRANT SELECT ON {names} TO {ROLE};
            END IF;
        END $$;
        """
    )


def downgrade() -> None:
    raise NotImplementedError("LeadFlow migrations only go forward")
