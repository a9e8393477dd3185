"""event meetings created with a hashed UID get a random one

Before 0.x an event meeting's UID was ``{series}-{YYYYMMDD}-c{12 hex}@{domain}``: the
nominal date is derived from the case event and the hex is an unsalted SHA-256 of the
case number, which anyone can reverse by hashing every case number. Each such meeting
gets ``{series}-e{20 random hex}@{domain}``, the UID new meetings get.

What calendars see (the choice the issue asked us to state): feeds simply stop carrying
the old UID and carry the new one (a subscribed calendar is replaced on each refresh).
Invitees who were mailed the old calendar entry get, for a meeting still to come, a
``renumbered`` notice (``METHOD:CANCEL`` under the old UID, saying the meeting stands)
and a fresh invitation under the new UID; the planner does that from the
``occurrence.rekeyed`` event written here (``notifications.outbox.planner``). Past and
cancelled meetings send nothing new: their calendar entries are history.

Every column that holds a meeting UID is rewritten, JSON included. The foreign keys to
``occurrences.uid`` are checked at commit (SQLite ``defer_foreign_keys``) or dropped and
re-created around the update (PostgreSQL's are not deferrable).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_REKEYED = "occurrence.rekeyed"  # frozen here, like every migration's vocabulary
HASHED = re.compile(r"^(?P<key>.+)-\d{8}-c[0-9a-f]{12}@(?P<domain>[^@]+)$")
# Tables whose foreign key points at a meeting UID, child before parent.
_UID_KEYS = (
    ("agenda_cases", "frozen_agendas"),
    ("case_discussions", "occurrences"),
    ("frozen_agendas", "occurrences"),
)
_PARENT_KEY = {"occurrences": "uid", "frozen_agendas": "occurrence_uid"}
_UID_COLUMNS = (
    "occurrences.uid",
    "audit_records.occurrence_uid",
    "outbox_events.occurrence_uid",
    "outbox_messages.occurrence_uid",
    *(f"{table}.occurrence_uid" for table, _ in _UID_KEYS),
)
# (table, JSON column, primary key): payloads and contexts name meetings by UID too.
_JSON_COLUMNS = (
    ("outbox_messages", "context", "id"),
    ("outbox_events", "payload", "id"),
    ("frozen_agendas", "content", "occurrence_uid"),
)


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT uid FROM occurrences WHERE origin = 'event'")).scalars()
    mapping = {}
    for uid in rows:
        m = HASHED.match(uid)
        if m:
            mapping[uid] = f"{m['key']}-e{secrets.token_hex(10)}@{m['domain']}"
    if not mapping:
        return
    rename_uids(conn, mapping)
    events = sa.table(
        "outbox_events",
        sa.column("kind", sa.String),
        sa.column("occurrence_uid", sa.String),
        sa.column("payload", sa.JSON),
        sa.column("created_at", sa.String if conn.dialect.name == "sqlite" else sa.DateTime),
    )
    now = datetime.now(UTC)
    # The text UTCDateTime writes on SQLite (a migration does not import the models).
    stamp = now.replace(tzinfo=None).isoformat(" ", "microseconds")
    conn.execute(
        events.insert(),
        [
            {
                "kind": _REKEYED,
                "occurrence_uid": new,
                "payload": {"old_uid": old},
                "created_at": stamp if conn.dialect.name == "sqlite" else now,
            }
            for old, new in mapping.items()
        ],
    )


def downgrade() -> None:
    """Nothing to undo: the old UIDs are not kept (they were the leak)."""


def rename_uids(conn: sa.Connection, mapping: Mapping[str, str]) -> None:
    """Rewrite every stored meeting UID ``old`` → ``new`` in the current transaction.

    Plain SQL on the connection (no Alembic context), so the migration's test can use it
    to turn a new database into an old one.
    """
    dropped = _hold_foreign_keys(conn)
    for table, column in (c.split(".") for c in _UID_COLUMNS):
        for old, new in mapping.items():
            conn.execute(
                sa.text(f"UPDATE {table} SET {column} = :new WHERE {column} = :old"),
                {"old": old, "new": new},
            )
    for table, column, pk in _JSON_COLUMNS:
        _rewrite_json(conn, table, column, pk, mapping)
    for table, name, parent in dropped:
        conn.exec_driver_sql(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY (occurrence_uid) "
            f"REFERENCES {parent} ({_PARENT_KEY[parent]}) ON DELETE CASCADE"
        )


def _hold_foreign_keys(conn: sa.Connection) -> list[tuple[str, str, str]]:
    """Let the UID columns change together: checked at commit on SQLite, dropped on
    PostgreSQL (whose keys are not deferrable; the caller re-creates what this returns)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        return []
    insp = sa.inspect(conn)
    dropped = []
    for table, parent in _UID_KEYS:
        for fk in insp.get_foreign_keys(table):
            if fk["referred_table"] == parent and fk["constrained_columns"] == ["occurrence_uid"]:
                conn.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {fk['name']}")
                dropped.append((table, str(fk["name"]), parent))
    return dropped


def _rewrite_json(
    conn: sa.Connection, table: str, column: str, pk: str, mapping: Mapping[str, str]
) -> None:
    """Replace the old UIDs wherever they occur in a JSON column. They are distinctive
    (a date, ``-c`` and 12 hex digits), so a text replacement hits nothing else."""
    pattern = re.compile("|".join(re.escape(o) for o in mapping))
    value = "CAST(:v AS JSON)" if conn.dialect.name == "postgresql" else ":v"
    found = conn.execute(
        sa.text(
            f"SELECT {pk}, CAST({column} AS TEXT) FROM {table} WHERE CAST({column} AS TEXT) LIKE :like"
        ),
        {"like": "%-c%@%"},
    ).all()
    for key, text in found:
        if pattern.search(text):
            conn.execute(
                sa.text(f"UPDATE {table} SET {column} = {value} WHERE {pk} = :k"),
                {"v": pattern.sub(lambda m: mapping[m.group(0)], text), "k": key},
            )
