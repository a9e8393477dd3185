"""A backend-neutral dump of a database's contents, to assert "database unchanged"."""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData, create_engine, select


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return repr(value)


_schemas: dict[str, MetaData] = {}


def dump(db_url: str) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table (as text, sorted), by table name; {} before migration.

    The schema is reflected once per URL (tests compare contents, not schemas)."""
    engine = create_engine(db_url)
    try:
        meta = _schemas.get(db_url)
        if meta is None or not meta.tables:
            meta = MetaData()
            meta.reflect(engine)
            _schemas[db_url] = meta
        out: dict[str, list[tuple[str, ...]]] = {}
        with engine.connect() as conn:
            for name, table in sorted(meta.tables.items()):
                rows = conn.execute(select(table)).all()
                out[name] = sorted(tuple(_text(v) for v in row) for row in rows)
        return out
    finally:
        engine.dispose()


def dump_text(db_url: str) -> str:
    """The dump as one string, to search it for text that must never be stored."""
    return "\n".join(f"{name}: {row}" for name, rows in dump(db_url).items() for row in rows)
