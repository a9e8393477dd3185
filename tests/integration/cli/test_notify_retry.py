"""The outbox under bad rows and refusals, with real processes and a real SMTP sink.

- a row that cannot be addressed (CR/LF in the recipient's name, as an old database may
  hold) fails alone, its error recorded; the rest of its batch is delivered;
- a 5xx marks a message failed for good; `notify status` says how to re-queue it and
  `notify retry [--kind] [--since]` does, leaving a trail on the row.
"""

from __future__ import annotations

import json
import subprocess

from sqlalchemy import select, update

from meetings.db import OutboxMessage
from notifications.mailsink import MailSink
from scheduler.bootstrap import build_app
from scheduler.settings import Settings
from tests.support.daemons import process_env, seed, statuses
from tests.support.processes import run


def _rows(db_url: str) -> dict[str, OutboxMessage]:
    app = build_app(Settings(database_url=db_url))
    try:
        with app.transaction() as s:
            return {r.recipient: r for r in s.scalars(select(OutboxMessage))}
    finally:
        app.close()


def _set_name(db_url: str, recipient: str, name: str) -> None:
    app = build_app(Settings(database_url=db_url))
    try:
        with app.transaction() as s:
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.recipient == recipient)
                .values(recipient_name=name)
            )
    finally:
        app.close()


def _clean(res: subprocess.CompletedProcess[str]) -> bool:
    return "Traceback" not in res.stdout + res.stderr


def test_a_row_that_cannot_be_addressed_fails_alone_and_the_batch_is_sent(db_url: str) -> None:
    bad = "r00003@example.org"
    with MailSink() as sink:
        env = process_env(db_url, sink.url)
        seeded = seed(db_url, 12)
        _set_name(db_url, bad, "警察局\r\nBcc: everyone@evil.example")
        res = run(env, "notify", "dispatch")
        assert res.returncode == 1, res.stdout + res.stderr  # a failure is reported
        assert _clean(res), res.stderr
        assert f"sent {len(seeded.message_ids) - 1}, failed 1" in res.stdout
        delivered = set(sink.handler.message_ids())
        recipients = {str(m["To"]) for m in sink.handler.messages}
    row = _rows(db_url)[bad]
    assert row.status == "failed"
    assert row.last_error is not None and "CR or LF" in row.last_error
    assert delivered == seeded.message_ids - {row.message_id}
    assert not any("evil" in r for r in recipients)


def test_a_5xx_failure_is_requeued_by_notify_retry(db_url: str) -> None:
    bad = "nobody@example.org"
    with MailSink() as sink:
        sink.handler.scripted[bad] = ["550 5.1.1 no such user here"]
        env = process_env(db_url, sink.url)
        seed(db_url, 6, bad=(bad,))
        assert run(env, "notify", "dispatch").returncode == 1
        assert run(env, "notify", "dispatch").stdout.startswith("sent 0, failed 0")  # for good
        status = run(env, "notify", "status")
        assert "`liaison notify retry`" in status.stdout
        assert json.loads(run(env, "notify", "status", "--json").stdout)["retry"]

        refused = run(env, "notify", "retry", "--kind", "nonsense")
        assert refused.returncode == 2 and "--kind: unknown kind 'nonsense'" in refused.stderr
        assert _clean(refused)
        none = run(env, "notify", "retry", "--kind", "invitation")
        assert none.returncode == 0 and "re-queued 0 " in none.stdout
        later = run(env, "notify", "retry", "--since", "2199-01-01", "--json")
        assert json.loads(later.stdout) == {"requeued": 0}
        assert statuses(db_url).get("failed") == 1

        sink.handler.scripted.pop(bad)  # the cause is fixed
        res = run(env, "notify", "retry", "--kind", "reminder", "--since", "2000-01-01")
        assert res.returncode == 0 and "re-queued 1 " in res.stdout, res.stdout + res.stderr
        row = _rows(db_url)[bad]
        assert row.status == "pending" and row.attempts == 0
        assert row.last_error is not None
        assert row.last_error.startswith("re-queued ") and "; was: 550" in row.last_error
        again = run(env, "notify", "dispatch")
        assert again.returncode == 0 and again.stdout.startswith("sent 1, failed 0"), again.stdout
        assert bad in {str(m["To"]).split("<")[-1].rstrip(">") for m in sink.handler.messages}
    sent = _rows(db_url)[bad]
    assert sent.status == "sent" and sent.last_error is None
    # the re-queue's trail outlives the attempt that followed it
    assert sent.requeue_count == 1 and sent.requeued_by and sent.requeued_by.startswith("cli")
    assert sent.requeued_at is not None
    assert "retry" not in json.loads(run(env, "notify", "status", "--json").stdout)
