"""Replies in the shapes of Outlook, Google Calendar, Apple Calendar and Thunderbird,
delivered over real SMTP (smtplib) to a real `liaison inbound` process on loopback;
then what `liaison replies list|quarantine` shows of them."""

from __future__ import annotations

import json
import os
import re
import smtplib
import subprocess
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from meetings.db import Occurrence, SeatAnswer
from meetings.kernel.vocabulary import SeatState
from notifications.inbound.parse import MAX_BYTES
from scheduler.bootstrap import App
from tests.conftest import REPO, Cli
from tests.integration.inbound.clients import (
    ORGANIZER,
    Who,
    apple_reply,
    google_reply,
    outlook_reply,
    plain_mail,
    thunderbird_delegation,
)
from tests.integration.inbound.conftest import Meetings, inbound, seats
from tests.support.processes import LIAISON


@pytest.fixture
def receiver(db_url: str, meetings: Meetings) -> Iterator[int]:
    """`liaison inbound --port 0` on the test database, its clock at 2 Jan 2023."""
    env = dict(os.environ, LIAISON_DATABASE_URL=db_url, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [*LIAISON, "inbound", "--port", "0", "--now", "2023-01-02T09:00"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"smtp://127\.0\.0\.1:(\d+)", line)
    assert found, line
    yield int(found.group(1))
    proc.terminate()
    proc.wait(timeout=10)


def send(port: int, raw: bytes, sender: str = "x@example.net") -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo()
        code, text = smtp.docmd("MAIL", f"FROM:<{sender}>")
        assert code == 250
        code, text = smtp.docmd("RCPT", f"TO:<{ORGANIZER}>")
        assert code == 250
        return smtp.data(raw)


def test_client_replies_over_smtp_answer_the_seats_once(
    app: App, meetings: Meetings, receiver: int, cli: Cli
) -> None:
    uid = meetings.first
    with app.transaction() as s:  # the meeting was moved once: SEQUENCE 1
        s.execute(update(Occurrence).where(Occurrence.uid == uid).values(sequence=1))
        start = s.scalars(select(Occurrence.start_at).where(Occurrence.uid == uid)).one()
    outlook = outlook_reply(uid, Who("pol@police.example.org", "王小明"), sequence=1)
    mails = {
        "outlook": outlook,
        "google": google_reply(
            uid, Who("edu@edu.example.org", "林老師", "DECLINED"), sequence=1,
            message_id="<google-1@mail.gmail.com>", comment="另有公務",
        ),
        "apple": apple_reply(
            uid, Who("chen@dvpc.example.org", "陳社工", "TENTATIVE"), sequence=1,
            message_id="<apple-1@icloud.com>",
        ),
        # Thunderbird delegation, from the agency's own address: 陳主任 sends 吳社工.
        "thunderbird": thunderbird_delegation(
            uid, Who("dvpc@dvpc.example.org", "陳主任"), Who("wu@dvpc.example.org", "吳社工"),
            sequence=1, message_id="<tb-1@dvpc.example.org>",
        ),
        "stale": outlook_reply(
            uid, Who("edu@edu.example.org", "林老師"), sequence=0, message_id="<stale@edu>"
        ),
        "counter": outlook_reply(
            uid, Who("pol@police.example.org", "王小明", "TENTATIVE"), sequence=1,
            method="COUNTER", start=start + timedelta(days=1),
            end=start + timedelta(days=1, hours=2), message_id="<counter@police>",
        ),
        "unknown": outlook_reply(
            uid, Who("stranger@elsewhere.example", "路人"), sequence=1, message_id="<who@x>"
        ),
        "garbage": b"Subject: \xff\xfe\r\n\r\n\x00\x01garbage\r\n",
        "duplicate": outlook,
    }  # fmt: skip
    answers = {name: send(receiver, raw) for name, raw in mails.items()}
    assert {n: code for n, (code, _) in answers.items()} == dict.fromkeys(mails, 250)
    assert answers["duplicate"][1].endswith(b"duplicate")
    assert answers["stale"][1].endswith(b"history")

    got = seats(app, uid)
    assert (got["POL"].state, got["POL"].person) == (SeatState.DESIGNATED, "王小明")
    assert (got["EDU"].state, got["EDU"].reason) == (SeatState.DECLINED, "另有公務")
    assert (got["DVPC"].state, got["DVPC"].person, got["DVPC"].for_whom) == (
        SeatState.DEPUTY,
        "吳社工",
        "陳主任",
    )  # the delegation came after Apple's TENTATIVE from a colleague: latest wins
    rows = inbound(app)
    assert len(rows) == 8  # the duplicate added nothing
    statuses = sorted(r.status for r in rows.values())
    assert statuses == sorted(
        ["applied"] * 4 + ["history", "counter", "quarantined", "quarantined"]
    )
    with app.transaction() as s:
        assert len(s.scalars(select(SeatAnswer)).all()) == 5  # 4 applied + 1 stale

    listed = cli("replies", "list", uid, "--json")
    assert listed.exit_code == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["counts"]["designated"] == 1 and data["counts"]["deputy"] == 1
    assert data["counts"]["declined"] == 1 and data["counts"]["total"] == 3
    assert [c["sender"] for c in data["counters"]] == ["pol@police.example.org"]
    assert data["counters"][0]["proposed_start"].startswith("2023-01-1")
    text = cli("replies", "list", uid)
    assert "代理出席" in text.stdout and "提議改期" in text.stdout and "共 3 席" in text.stdout
    q = json.loads(cli("replies", "quarantine", "--json").stdout)
    assert sorted(m["reason"] for m in q) == [
        "no calendar part (text/calendar or .ics)",
        "unknown sender",
    ]
    assert all("BEGIN:VCALENDAR" not in json.dumps(m) for m in q)


def test_too_large_is_refused_with_552_and_the_receiver_goes_on(
    app: App, meetings: Meetings, receiver: int
) -> None:
    big = plain_mail("pol@police.example.org", "big", "x" * (MAX_BYTES + 10), "<big@x>")
    assert send(receiver, big)[0] == 552  # counted while receiving; never handed over
    ok = send(receiver, outlook_reply(meetings.first, Who("pol@police.example.org", "王小明")))
    assert ok[0] == 250
    assert seats(app, meetings.first)["POL"].state == SeatState.DESIGNATED


def test_replies_commands_refuse_bad_input(cli: Cli, meetings: Meetings) -> None:
    res = cli("replies", "list", "no-such@liaison.test.example")
    assert res.exit_code == 2 and "unknown meeting UID" in res.stderr
    res = cli("replies", "list", meetings.first, "--as", "nobody@example.org")
    assert res.exit_code == 2
    res = cli("inbound", "--imap-once")
    assert res.exit_code == 2 and "LIAISON_IMAP_URL" in res.stderr
