"""Engine and session construction, and schema migration. Nothing connects at import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from scheduler.settings import DEFAULT_SQLITE_BUSY_TIMEOUT

if TYPE_CHECKING:
    from alembic.config import Config

REPO_ROOT = Path(__file__).resolve().parent.parent
ALEMBIC_DIR = REPO_ROOT / "alembic"


class DatabaseUnavailable(Exception):
    """The database cannot be used where the URL puts it (a path under a regular file,
    a missing folder, a folder in place of the file): the message is one line."""


def _check_sqlite_path(db: str) -> None:
    """Refuse a SQLite file that cannot exist; create its folder if only that is missing.

    One missing folder level is created (the default ``var/liaison.db`` on a fresh
    checkout); a deeper missing path is more likely a typo than a wish, so it is refused
    rather than created.
    """
    path = Path(db)
    for ancestor in reversed(path.parents):
        if ancestor.exists() and not ancestor.is_dir():
            raise DatabaseUnavailable(
                f"database {db}: {ancestor} is a file, not a folder (LIAISON_DATABASE_URL)"
            )
    if path.is_dir():
        raise DatabaseUnavailable(f"database {db}: is a folder, not a file (LIAISON_DATABASE_URL)")
    if not path.parent.exists():
        if not path.parent.parent.is_dir():
            raise DatabaseUnavailable(
                f"database {db}: folder {path.parent} does not exist (LIAISON_DATABASE_URL)"
            )
        try:
            path.parent.mkdir()
        except OSError as exc:
            raise DatabaseUnavailable(
                f"database {db}: cannot create folder {path.parent}: {exc.strerror}"
            ) from None


def make_engine(url: str, *, busy_timeout: float = DEFAULT_SQLITE_BUSY_TIMEOUT) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout and
    transactions that take the write lock when they begin.

    ``busy_timeout``: seconds a SQLite writer waits for the lock before "database is
    locked" (``Settings.sqlite_busy_timeout``). Bound parameters are kept out of error
    messages and logs (``hide_parameters``): they are case data. Raises
    :class:`DatabaseUnavailable` for a SQLite path that cannot be a database file.
    """
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"hide_parameters": True}
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite:
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            _check_sqlite_path(db)
        kwargs["connect_args"] = {"timeout": busy_timeout}
    engine = create_engine(url, **kwargs)
    if sqlite:
        _sqlite_events(engine, busy_timeout)
    return engine


def _sqlite_events(engine: Engine, busy_timeout: float) -> None:
    """Pragmas on connect, and ``BEGIN IMMEDIATE`` for every transaction.

    pysqlite's own (deferred, and lazily emitted) BEGIN lets a transaction read, then
    find another writer committed in between when it first writes: `closures add`
    racing `schedule generate` then moved nothing and left meetings on the closed day.
    So pysqlite's transaction handling is switched off (``isolation_level = None``) and
    each transaction begins by taking the write lock (SQLAlchemy's documented recipe,
    "Serializable isolation / Savepoints / Transactional DDL"). Every transaction is
    immediate, readers too: telling read-only units of work apart is not cheap here, and
    the busy timeout makes a second transaction wait for the first instead of failing.
    """

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA cache_size=-32768")  # 32 MiB: bulk generates spill less
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def write_problem(engine: Engine) -> str | None:
    """Why the pages' writes would fail now ("read-only", "unavailable: …"), or None.

    A write is begun and rolled back: a read-only SQLite file (or a PostgreSQL standby)
    answers reads, so ``SELECT 1`` said "ok" while every login failed.
    """
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                if conn.execute(text("SHOW transaction_read_only")).scalar() == "on":
                    return "read-only"
            else:  # an UPDATE that matches nothing still needs the write lock
                conn.execute(text("UPDATE alembic_version SET version_num = version_num WHERE 0"))
            conn.rollback()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc) or type(exc).__name__).splitlines()[0]
        return "read-only" if "readonly" in reason.replace("-", "") else f"unavailable: {reason}"
    return None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(engine: Engine) -> Config:
    """The Alembic configuration for ``engine`` (our migrations, its URL)."""
    # Alembic is imported here, not at the top: it adds ~90 ms to every `liaison`
    # command, and only `init` and a first start on an empty database migrate.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command  # see alembic_config: start-up time

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def is_initialised(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")
