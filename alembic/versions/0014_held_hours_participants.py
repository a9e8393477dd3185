"""held_meetings.hours, held_meetings.participants: what the grant report counts

Supervision, training and family meetings (a series' ``kind``) are reported by
sessions, hours and participants (seed 003). Both are optional: without them the
report uses the scheduled duration and the attendance lines.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("held_meetings", sa.Column("hours", sa.Float(), nullable=True))
    op.add_column("held_meetings", sa.Column("participants", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite ≥ 3.35): batch mode would rebuild the table.
    op.execute("ALTER TABLE held_meetings DROP COLUMN participants")
    op.execute("ALTER TABLE held_meetings DROP COLUMN hours")
