"""occurrences.cancel_cause: why the planner cancelled a meeting, as state, not display text

Before this, a skip-policy cancellation was recognised by its reason text
("holiday policy: skip"); cancelled rows are backfilled with the cause their planner
reason text meant (other cancellations keep NULL).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Frozen here: a migration must not change when the code's vocabulary does.
_CANCELLED = "cancelled"
_CAUSE_OF_REASON = {
    "holiday policy: skip": "holiday_skip",
    "cadence changed": "replanned",
    "series retired": "replanned",
}


def upgrade() -> None:
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancel_cause", sa.String(length=16), nullable=True))
    occurrences = sa.table(
        "occurrences",
        sa.column("status", sa.String),
        sa.column("moved_reason", sa.String),
        sa.column("cancel_cause", sa.String),
    )
    for reason, cause in _CAUSE_OF_REASON.items():
        op.execute(
            occurrences.update()
            .where(occurrences.c.status == _CANCELLED, occurrences.c.moved_reason == reason)
            .values(cancel_cause=cause)
        )


def downgrade() -> None:
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.drop_column("cancel_cause")
