"""seats, seat_answers, inbound_messages: who is coming, and the replies that said so

Each invited agency of a meeting has a seat (invited → designated | deputy | declined),
answered by the reply slip link, a calendar client's iTIP REPLY, or the secretariat.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seats",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "occurrence_id",
            sa.Integer(),
            sa.ForeignKey("occurrences.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("agency_code", sa.String(32), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("person", sa.String(100)),
        sa.Column("title", sa.String(100)),
        sa.Column("for_whom", sa.String(100)),
        sa.Column("reason", sa.String(200)),
        sa.Column("channel", sa.String(16)),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("answered_by", sa.String(254)),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("occurrence_id", "agency_code"),
    )
    op.create_table(
        "seat_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "seat_id", sa.Integer(), sa.ForeignKey("seats.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("person", sa.String(100)),
        sa.Column("title", sa.String(100)),
        sa.Column("for_whom", sa.String(100)),
        sa.Column("reason", sa.String(200)),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("answered_by", sa.String(254)),
        sa.Column("sequence", sa.Integer()),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(200)),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_seat_answers_seat_id", "seat_answers", ["seat_id"])
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.String(300), nullable=False, unique=True),
        sa.Column("city_id", sa.Integer(), sa.ForeignKey("cities.id", ondelete="CASCADE")),
        sa.Column("sender", sa.String(254)),
        sa.Column("subject", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(300)),
        sa.Column("occurrence_uid", sa.String(300)),
        sa.Column("seat_id", sa.Integer(), sa.ForeignKey("seats.id", ondelete="SET NULL")),
        sa.Column("proposed_start", sa.DateTime(timezone=True)),
        sa.Column("proposed_end", sa.DateTime(timezone=True)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_inbound_messages_status", "inbound_messages", ["status"])


def downgrade() -> None:
    op.drop_table("inbound_messages")
    op.drop_table("seat_answers")
    op.drop_table("seats")
