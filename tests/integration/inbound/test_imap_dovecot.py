"""The IMAP poll (``LIAISON_IMAP_URL``) against a real dovecot on loopback
(tests/support/dovecot.py): client-shaped replies delivered into its Maildir, polled
with `poll_mailbox` (what the daemon's "imap" job runs) and `liaison inbound --imap-once`;
what the seats, the quarantine and the server's \\Seen flags show afterwards."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from meetings.db import SeatAnswer
from meetings.kernel.vocabulary import InboundStatus, SeatState
from notifications.inbound.imap import ImapError, PollReport, poll_mailbox
from notifications.inbound.parse import MAX_BYTES
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import REPO
from tests.integration.inbound.clients import (
    Who,
    outlook_reply,
    plain_mail,
    thunderbird_delegation,
)
from tests.integration.inbound.conftest import Meetings, inbound, seats
from tests.support.dovecot import Dovecot, dovecot_server
from tests.support.processes import run, wait_for

GARBAGE = b"Subject: \xff\xfe\r\n\r\n\x00\x01garbage\r\n"  # no Message-ID, no calendar


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with dovecot_server() as server:
        yield server


def poll(app: App, server: Dovecot) -> PollReport:
    return poll_mailbox(server.url(), app.sessions, app.clock.now)


def answers(app: App, seat_id: int) -> list[SeatAnswer]:
    with app.transaction() as s:
        return list(s.scalars(select(SeatAnswer).where(SeatAnswer.seat_id == seat_id)))


def snapshot(app: App, uid: str) -> dict[str, Any]:
    """What a poll could change: the seats, their answers, the inbound rows."""
    got = seats(app, uid)
    return {
        "seats": {
            code: (s.state, s.person, s.for_whom, s.answered_at, s.updated_at)
            for code, s in got.items()
        },
        "answers": {code: len(answers(app, s.id)) for code, s in got.items()},
        "inbound": {m: (r.status, r.reason, r.seat_id) for m, r in inbound(app).items()},
    }


def test_one_poll_applies_the_replies_quarantines_the_rest_and_marks_all_seen(
    app: App, meetings: Meetings, dovecot: Dovecot
) -> None:
    uid = meetings.first
    dovecot.deliver(outlook_reply(uid, Who("pol@police.example.org", "王小明")))  # no ORGANIZER
    dovecot.deliver(
        thunderbird_delegation(
            uid,
            Who("dvpc@dvpc.example.org", "陳主任"),
            Who("wu@dvpc.example.org", "吳社工"),
            message_id="<tb-1@dvpc.example.org>",
        )
    )
    dovecot.deliver(GARBAGE)
    assert len(dovecot.uids("UNSEEN")) == 3

    assert poll(app, dovecot) == PollReport(seen=3, stored=3, failed=0)

    got = seats(app, uid)
    assert (got["POL"].state, got["POL"].person, got["POL"].channel) == (
        SeatState.DESIGNATED,
        "王小明",
        "itip",
    )
    assert (got["DVPC"].state, got["DVPC"].person, got["DVPC"].for_whom) == (
        SeatState.DEPUTY,
        "吳社工",
        "陳主任",
    )
    rows = inbound(app)
    assert rows["<outlook-1@mail.police.example.org>"].status == InboundStatus.APPLIED
    assert rows["<tb-1@dvpc.example.org>"].status == InboundStatus.APPLIED
    (bad,) = [r for r in rows.values() if r.status == InboundStatus.QUARANTINED]
    assert bad.reason == "no calendar part (text/calendar or .ics)"
    assert bad.message_id.endswith("@inbound.invalid>")  # it had no Message-ID
    # On the server: all three kept, all three \Seen (the poll fetched with PEEK, then STOREd).
    assert dovecot.uids("ALL") == dovecot.uids("SEEN") and len(dovecot.uids("ALL")) == 3
    assert dovecot.uids("UNSEEN") == []


def test_the_same_message_delivered_twice_is_applied_once(
    app: App, meetings: Meetings, dovecot: Dovecot
) -> None:
    raw = outlook_reply(meetings.first, Who("pol@police.example.org", "王小明"))
    dovecot.deliver(raw)
    dovecot.deliver(raw)  # the same Message-ID, twice in the mailbox

    assert poll(app, dovecot) == PollReport(seen=2, stored=2, failed=0)

    pol = seats(app, meetings.first)["POL"]
    assert (pol.state, pol.person) == (SeatState.DESIGNATED, "王小明")
    assert len(answers(app, pol.id)) == 1  # one answer in the seat's history
    rows = inbound(app)
    assert list(rows) == ["<outlook-1@mail.police.example.org>"]
    assert rows["<outlook-1@mail.police.example.org>"].status == InboundStatus.APPLIED
    assert len(dovecot.uids("SEEN")) == 2 and dovecot.uids("UNSEEN") == []  # the copy too


def test_a_second_poll_with_nothing_new_changes_nothing(
    app: App, clock: FixedClock, meetings: Meetings, dovecot: Dovecot
) -> None:
    dovecot.deliver(outlook_reply(meetings.first, Who("pol@police.example.org", "王小明")))
    dovecot.deliver(GARBAGE)
    assert poll(app, dovecot) == PollReport(seen=2, stored=2, failed=0)
    before = snapshot(app, meetings.first)
    clock.advance(timedelta(minutes=5))  # a change would now carry another time

    assert poll(app, dovecot) == PollReport()  # nothing unseen: nothing read
    assert snapshot(app, meetings.first) == before

    # What arrives afterwards is read on the next poll, alone.
    later = outlook_reply(
        meetings.first,
        Who("edu@edu.example.org", "林老師", "DECLINED"),
        message_id="<outlook-2@edu.example.org>",
        comment="另有公務",
    )
    dovecot.deliver(later)
    assert poll(app, dovecot) == PollReport(seen=1, stored=1, failed=0)
    after = snapshot(app, meetings.first)
    assert after["seats"]["POL"] == before["seats"]["POL"]
    assert after["seats"]["EDU"][0] == SeatState.DECLINED
    assert set(after["inbound"]) - set(before["inbound"]) == {"<outlook-2@edu.example.org>"}


def _fetch_counts(log: str) -> tuple[int, int]:
    """Header and body fetches of every finished IMAP session, from dovecot's logout lines."""
    hdr = sum(int(n) for n in re.findall(r"hdr_count=(\d+)", log))
    body = sum(int(n) for n in re.findall(r"body_count=(\d+)", log))
    return hdr, body


def test_an_oversize_message_is_quarantined_from_its_header_alone(
    app: App, meetings: Meetings, dovecot: Dovecot
) -> None:
    big = plain_mail("pol@police.example.org", "大附件", "x" * (MAX_BYTES + 10), "<big@x>")
    assert len(big) > MAX_BYTES
    dovecot.deliver(big)

    assert poll(app, dovecot) == PollReport(seen=1, stored=1, failed=0)

    row = inbound(app)["<big@x>"]
    assert (row.status, row.reason) == (InboundStatus.QUARANTINED, "too large: over 2 MB")
    assert (row.sender, row.subject) == ("pol@police.example.org", "大附件")  # from the header
    assert dovecot.uids("UNSEEN") == []
    # The server's own account of its sessions (the fixture's, the poll's, the SEARCH
    # above), once all three have logged out: one header fetched, no body.
    assert wait_for(lambda: dovecot.log_text().count("Logged out") == 3, 10), dovecot.log_text()
    assert _fetch_counts(dovecot.log_text()) == (1, 0), dovecot.log_text()


def test_a_wrong_password_fails_the_poll_without_showing_the_password(
    app: App, db_url: str, meetings: Meetings, dovecot: Dovecot
) -> None:
    wrong = "Wr0ng-pa55word"
    dovecot.deliver(outlook_reply(meetings.first, Who("pol@police.example.org", "王小明")))
    with pytest.raises(ImapError) as caught:
        poll_mailbox(dovecot.url(password=wrong), app.sessions, app.clock.now)
    where = f"imap://{dovecot.user}@{dovecot.host}:{dovecot.port}/INBOX"
    said = "[AUTHENTICATIONFAILED] Authentication failed."  # dovecot's words, as text
    assert str(caught.value) == f"{where}: {said}"

    env = dict(os.environ, LIAISON_DATABASE_URL=db_url, PYTHONPATH=str(REPO))
    env["LIAISON_IMAP_URL"] = dovecot.url(password=wrong)
    res = run(env, "inbound", "--imap-once", "--now", "2023-01-02T09:00")
    assert res.returncode == 1, res.stderr
    assert res.stderr.strip() == f"error: {where}: {said}"
    assert wrong not in res.stderr + res.stdout
    assert dovecot.uids("UNSEEN") != [] and inbound(app) == {}  # nothing read, nothing stored

    env["LIAISON_IMAP_URL"] = dovecot.url()  # the right password: the same command reads it
    res = run(env, "inbound", "--imap-once", "--now", "2023-01-02T09:00")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "imap: 1 read, 1 stored, 0 left for the next poll"
    assert dovecot.password not in res.stdout + res.stderr
    assert seats(app, meetings.first)["POL"].state == SeatState.DESIGNATED
    assert dovecot.uids("UNSEEN") == []
