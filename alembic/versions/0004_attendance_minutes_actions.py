"""attendance, minutes and action items

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_meetings",
        sa.Column("occurrence_id", sa.Integer(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("cycle_first", sa.Date(), nullable=False),
        sa.Column("cycle_last", sa.Date(), nullable=False),
        sa.Column("minutes_due_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["occurrence_id"], ["occurrences.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("occurrence_id"),
    )
    op.create_index("ix_held_meetings_held_on", "held_meetings", ["held_on"])
    op.create_table(
        "attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurrence_id", sa.Integer(), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("person_email", sa.String(length=254), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rank", sa.String(length=100), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["occurrence_id"], ["occurrences.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_attendance_occurrence_agency",
        "attendance",
        ["occurrence_id", "agency_code", "status"],
    )
    op.create_table(
        "minutes",
        sa.Column("occurrence_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("recorded_on", sa.Date(), nullable=False),
        sa.Column("revised_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["occurrence_id"], ["occurrences.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("occurrence_id"),
    )
    op.create_table(
        "action_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurrence_id", sa.Integer(), nullable=False),
        sa.Column("owner_code", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["occurrence_id"], ["occurrences.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_action_items_due", "action_items", ["due_on"])
    op.create_index("ix_action_items_occurrence", "action_items", ["occurrence_id"])
    # The KPI report selects a year of meetings by nominal date across every series.
    op.create_index("ix_occurrences_nominal_status", "occurrences", ["nominal_date", "status"])


def downgrade() -> None:
    op.drop_index("ix_occurrences_nominal_status", table_name="occurrences")
    op.drop_index("ix_action_items_occurrence", table_name="action_items")
    op.drop_index("ix_action_items_due", table_name="action_items")
    op.drop_table("action_items")
    op.drop_table("minutes")
    op.drop_index("ix_attendance_occurrence_agency", table_name="attendance")
    op.drop_table("attendance")
    op.drop_index("ix_held_meetings_held_on", table_name="held_meetings")
    op.drop_table("held_meetings")
