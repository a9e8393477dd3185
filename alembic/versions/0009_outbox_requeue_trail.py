"""outbox_messages remember who re-queued them and when (``notify retry``)

The re-queue used to be written into ``last_error``, which the next attempt overwrote;
these columns are never overwritten by a delivery attempt.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requeued_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("requeued_by", sa.String(length=254), nullable=True))
        batch_op.add_column(
            sa.Column("requeue_count", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_column("requeue_count")
        batch_op.drop_column("requeued_by")
        batch_op.drop_column("requeued_at")
