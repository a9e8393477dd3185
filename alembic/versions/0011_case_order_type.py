"""cases.order_type: which order expires (監護處分, 保護管束, 保護令 …)

Event series may now trigger on a case's data (``trigger.when``): the pre-expiry
transition meeting is for 監護處分 and 保護管束, not for a protective order. Cases
imported before keep NULL until their next import.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("order_type", sa.String(length=30), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("order_type")
