"""cases, listing rules, listings, discussions, frozen agendas and audit

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column("case_no", sa.String(length=64), nullable=False),
        sa.Column("case_type", sa.String(length=20), nullable=False),
        sa.Column("district", sa.String(length=50), nullable=False),
        sa.Column("masked_name", sa.String(length=50), nullable=True),
        sa.Column("sdm_risk", sa.String(length=4), nullable=True),
        sa.Column("tipvda_score", sa.Integer(), nullable=True),
        sa.Column("service", sa.String(length=50), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("agency", sa.String(length=100), nullable=True),
        sa.Column("worker", sa.String(length=50), nullable=True),
        sa.Column("reported_at", sa.Date(), nullable=False),
        sa.Column("rereported_at", sa.Date(), nullable=True),
        sa.Column("order_expiry", sa.Date(), nullable=True),
        sa.Column("listed_reason", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.Date(), nullable=True),
        sa.Column("created_at", UTC_INSTANT, nullable=False),
        sa.Column("updated_at", UTC_INSTANT, nullable=False),
        sa.ForeignKeyConstraint(["city_id"], ["cities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("city_id", "case_no"),
    )
    op.create_index("ix_cases_city_district", "cases", ["city_id", "district"])
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_INSTANT, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_events_case", "case_events", ["case_id", "kind", "at"])
    op.create_table(
        "listing_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=63), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("window", sa.String(length=16), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTC_INSTANT, nullable=False),
        sa.ForeignKeyConstraint(["city_id"], ["cities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("city_id", "rule_id"),
    )
    op.create_table(
        "case_listings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("listed_at", sa.Date(), nullable=False),
        sa.Column("delisted_at", sa.Date(), nullable=True),
        sa.Column("delisted_reason", sa.String(length=100), nullable=True),
        sa.Column("escalated_at", UTC_INSTANT, nullable=True),
        sa.Column("created_at", UTC_INSTANT, nullable=False),
        sa.Column("case_no", sa.String(length=64), nullable=True),
        sa.Column("district", sa.String(length=50), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["rule_id"], ["listing_rules.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_case_listings_open",
        "case_listings",
        ["rule_id", "delisted_at", "listed_at", "district", "case_no"],
    )
    op.create_index("ix_case_listings_case", "case_listings", ["case_id", "rule_id"])
    op.create_table(
        "case_discussions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurrence_uid", sa.String(length=300), nullable=False),
        sa.Column("case_no", sa.String(length=64), nullable=False),
        sa.Column("discussed_at", UTC_INSTANT, nullable=False),
        sa.Column("discussed_on", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["occurrence_uid"], ["occurrences.uid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("occurrence_uid", "case_no"),
    )
    op.create_index("ix_case_discussions_case", "case_discussions", ["case_no", "discussed_on"])
    op.create_table(
        "frozen_agendas",
        sa.Column("occurrence_uid", sa.String(length=300), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("frozen_at", UTC_INSTANT, nullable=False),
        sa.ForeignKeyConstraint(["occurrence_uid"], ["occurrences.uid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("occurrence_uid"),
    )
    op.create_table(
        "agenda_cases",
        sa.Column("occurrence_uid", sa.String(length=300), nullable=False),
        sa.Column("case_no", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("carried_over", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["occurrence_uid"], ["frozen_agendas.occurrence_uid"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("occurrence_uid", "case_no"),
    )
    op.create_index("ix_agenda_cases_case", "agenda_cases", ["case_no"])
    op.create_table(
        "audit_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("viewer", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("occurrence_uid", sa.String(length=300), nullable=True),
        sa.Column("case_nos", sa.JSON(), nullable=False),
        sa.Column("viewed_at", UTC_INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_records_viewed_at", "audit_records", ["viewed_at"])
    op.create_table(
        "city_settings",
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column("config_dirs", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC_INSTANT, nullable=False),
        sa.ForeignKeyConstraint(["city_id"], ["cities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("city_id"),
    )
    # Event-triggered meetings are looked up by their case.
    op.create_index("ix_occurrences_case_no", "occurrences", ["case_no"])


def downgrade() -> None:
    op.drop_index("ix_occurrences_case_no", table_name="occurrences")
    op.drop_table("city_settings")
    op.drop_index("ix_audit_records_viewed_at", table_name="audit_records")
    op.drop_table("audit_records")
    op.drop_index("ix_agenda_cases_case", table_name="agenda_cases")
    op.drop_table("agenda_cases")
    op.drop_table("frozen_agendas")
    op.drop_index("ix_case_discussions_case", table_name="case_discussions")
    op.drop_table("case_discussions")
    op.drop_index("ix_case_listings_case", table_name="case_listings")
    op.drop_index("ix_case_listings_open", table_name="case_listings")
    op.drop_table("case_listings")
    op.drop_table("listing_rules")
    op.drop_index("ix_case_events_case", table_name="case_events")
    op.drop_table("case_events")
    op.drop_index("ix_cases_city_district", table_name="cases")
    op.drop_table("cases")
