"""users and api_tokens belong to a city (or all cities); login_throttle

A deployment with exactly one city gives every existing user and API token that city.
With several cities nothing is guessed: existing logins and tokens see nothing until an
admin assigns a city (``liaison users set-city``), because guessing wrong leaks a city's
cases to another.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_SCOPED = ("users", "api_tokens")


def upgrade() -> None:
    for table in _SCOPED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("city_id", sa.Integer(), nullable=True))
            batch_op.add_column(
                sa.Column("all_cities", sa.Boolean(), nullable=False, server_default=sa.false())
            )
            batch_op.create_foreign_key(
                f"fk_{table}_city_id", "cities", ["city_id"], ["id"], ondelete="CASCADE"
            )
    cities = op.get_bind().execute(sa.text("SELECT id FROM cities")).scalars().all()
    if len(cities) == 1:
        for table in _SCOPED:
            op.execute(sa.text(f"UPDATE {table} SET city_id = :c").bindparams(c=cities[0]))
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
    for table in _SCOPED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_city_id", type_="foreignkey")
            batch_op.drop_column("all_cities")
            batch_op.drop_column("city_id")
