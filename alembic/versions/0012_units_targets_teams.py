"""agencies.units, cities.targets, people.team

Per-district units of an agency (中壢分局 of 警察局), the targets a city is judged by
(BC3.1 60/70/80 %), and the team a person works in (TL3.1 is reported by team).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on every backend: SQLite's batch mode would recreate ``cities``
# and its ON DELETE CASCADE would empty every table that refers to it.
_COLUMNS = (
    ("agencies", sa.Column("units", sa.JSON(), nullable=False, server_default="{}")),
    ("cities", sa.Column("targets", sa.JSON(), nullable=False, server_default="{}")),
    ("people", sa.Column("team", sa.String(length=50), nullable=True)),
)


def upgrade() -> None:
    for table, column in _COLUMNS:
        op.add_column(table, column)


def downgrade() -> None:
    for table, column in reversed(_COLUMNS):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column.name}")
