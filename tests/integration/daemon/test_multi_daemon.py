"""Several `liaison run` daemons on one database: every due message goes out exactly once.

PostgreSQL is the multi-daemon backend: workers claim outbox rows with
``SELECT … FOR UPDATE SKIP LOCKED`` and a lease, so they share the work without a
leader and never overlap. SQLite is documented as single-daemon; its compare-and-set
claim still keeps two concurrent dispatchers from sending a message twice, which is
checked here on a smaller outbox.

Everything runs as real processes against a real SMTP server (aiosmtpd) on loopback,
and every wait is bounded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from meetings.db import OutboxMessage
from notifications.mailsink import MailSink
from scheduler.bootstrap import build_app
from scheduler.settings import Settings
from tests.conftest import postgresql_only
from tests.support.daemons import Daemons, Seeded, process_env, seed, statuses, utcnow
from tests.support.processes import wait_for


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink() as s:
        yield s


@pytest.fixture
def daemons(tmp_path: Path, db_url: str, sink: MailSink) -> Iterator[Daemons]:
    d = Daemons(process_env(db_url, sink.url), tmp_path)
    yield d
    d.stop_all()


def run_daemons_until_delivered(
    db_url: str, sink: MailSink, daemons: Daemons, count: int, n: int, timeout: float
) -> Seeded:
    """Start ``count`` daemons, wait until all are up, then make ``n`` messages due."""
    build_app(Settings(database_url=db_url)).close()  # schema first: daemons don't race on it
    for _ in range(count):
        daemons.start()
    assert wait_for(lambda: all(daemons.started(i) for i in range(count)), 60), [
        daemons.log(i) for i in range(count)
    ]
    seeded = seed(db_url, n)
    # len(messages), not message_ids(): parsing 2,000 headers every poll starves the sink
    assert wait_for(lambda: len(sink.handler.messages) >= len(seeded.message_ids), timeout), (
        f"{len(sink.handler.messages)} of {len(seeded.message_ids)} delivered"
    )
    assert wait_for(lambda: statuses(db_url).get("sent", 0) >= len(seeded.message_ids), 30)
    daemons.stop_all()
    return seeded


def assert_each_exactly_once(sink: MailSink, seeded: Seeded) -> None:
    delivered = Counter(sink.handler.message_ids())
    twice = {m: c for m, c in delivered.items() if c > 1}
    assert not twice, f"sent more than once: {list(twice.items())[:5]}"
    assert set(delivered) == seeded.message_ids


@postgresql_only
def test_three_daemons_on_postgresql_send_2000_messages_each_exactly_once(
    db_url: str, sink: MailSink, daemons: Daemons
) -> None:
    seeded = run_daemons_until_delivered(db_url, sink, daemons, 3, 2000, timeout=240)
    assert len(seeded.message_ids) >= 2000
    assert_each_exactly_once(sink, seeded)
    assert statuses(db_url) == {"sent": len(seeded.message_ids), "pending": seeded.later}
    # No leader: all three took part.
    shares = [daemons.sent_by(i) for i in range(3)]
    assert sum(shares) == len(seeded.message_ids), shares
    assert all(share > 0 for share in shares), shares


def test_two_concurrent_daemons_never_send_a_message_twice(
    db_url: str, sink: MailSink, daemons: Daemons, backend: str
) -> None:
    """On SQLite too (single-daemon by documentation): the compare-and-set claim holds."""
    seeded = run_daemons_until_delivered(db_url, sink, daemons, 2, 300, timeout=120)
    assert_each_exactly_once(sink, seeded)
    assert statuses(db_url) == {"sent": len(seeded.message_ids), "pending": seeded.later}
    assert sum(daemons.sent_by(i) for i in range(2)) == len(seeded.message_ids)


def test_seed_is_due_at_once(db_url: str) -> None:
    """The helper's rows are what the daemons see as due (guards the tests above)."""
    seeded = seed(db_url, 5)
    app = build_app(Settings(database_url=db_url))
    try:
        with app.transaction() as s:
            due = s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.due_at <= utcnow())
            )
    finally:
        app.close()
    assert due == len(seeded.message_ids) >= 5
