"""Reply links in the notices, the reply chase and the confirmation: real SMTP, injected clock."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select

from meetings.access.users import secret
from meetings.cases.config import load_config
from meetings.db import Occurrence
from meetings.kernel.vocabulary import ReplyChannel, SeatState
from meetings.kernel.yamlsource import load_yaml
from meetings.schedule.closures import add_closure
from meetings.schedule.config_build import build_config
from meetings.seats.answers import Answer, answer_seat
from meetings.seats.seats import REPLY_SECRET, seat_for_token, sync_seats
from notifications.email import MeetingView, render
from notifications.mailsink import MailSink
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import taipei
from tests.support.configs import CONFIG
from tests.support.snapshots import assert_snapshot
from tests.unit.notifications.test_notify import dispatch, kinds, setup
from tests.unit.notifications.test_notify import sink as sink  # the fixture

LINK = re.compile(r"https://liaison\.test/reply/([A-Za-z0-9_-]{43})")
WITH_PERSON = CONFIG.replace(
    "series:\n", "people:\n  - {name: 陳社工, email: chen@example.org}\nseries:\n", 1
).replace(
    "invite: {required: [DVPC, POL]}", "invite: {required: [DVPC, POL], people: [chen@example.org]}"
)


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def of_kind(mails: MailSink, kind: str) -> list[EmailMessage]:
    return [m for m in mails.handler.messages if f".{kind}." in str(m["Message-ID"])]


def answer(app: App, code: str, state: SeatState, **text: str) -> None:
    with app.transaction() as s:
        occ = s.scalars(select(Occurrence).order_by(Occurrence.start_at)).first()
        assert occ is not None
        now = app.clock.now()
        seat = next(
            x
            for x in sync_seats(s, occ, secret(s, REPLY_SECRET, now), now)
            if x.agency_code == code
        )
        answer_seat(s, seat, occ, Answer(state, ReplyChannel.LINK, by="reply-slip", **text), now)


def test_each_agency_gets_its_own_seat_link_and_people_none(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app, WITH_PERSON)
    clock.set(taipei(2023, 1, 2, 8, 0))
    dispatch(app, sink)
    invitations = {
        str(m["To"]).split("<")[-1].rstrip(">"): m for m in of_kind(sink, "invitation.0")
    }
    tokens = {}
    for rcpt, msg in invitations.items():
        found = LINK.findall(text_of(msg))
        tokens[rcpt] = set(found)
    assert tokens["chen@example.org"] == set()
    with app.transaction() as s:
        for rcpt, code in (("dvpc@example.org", "DVPC"), ("pol@example.org", "POL")):
            (token,) = tokens[rcpt]
            found = seat_for_token(s, token, clock.now())
            assert found is not None and found[0].agency_code == code
            assert token not in str(found[0].token_hash)
    assert tokens["dvpc@example.org"] != tokens["pol@example.org"]


def test_a_simulated_month_chases_only_unanswered_required_seats_once(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app)
    clock.set(taipei(2023, 1, 2, 8, 0))
    dispatch(app, sink)  # Jan 11 invitations out (created 10 days ahead)
    answer(app, "DVPC", SeatState.DESIGNATED, person="王小明", title="社工督導")
    for day in range(1, 31):
        clock.set(taipei(2023, 1, 2, 8, 0) + timedelta(days=day))
        dispatch(app, sink)
    # Jan 11: readiness Jan 6 → one chase, to POL only; DVPC's answer confirmed once.
    chases = of_kind(sink, "reply_chase")
    assert [str(m["To"]) for m in chases] == ["警察局 <pol@example.org>"]
    assert "尚未回覆" in text_of(chases[0]) and LINK.search(text_of(chases[0]))
    confirmations = of_kind(sink, "reply_confirmation")
    assert [str(m["To"]) for m in confirmations] == ["家防中心 <dvpc@example.org>"]
    assert "指派出席：王小明（社工督導）" in text_of(confirmations[0])
    assert kinds(sink)["readiness"] == 0  # no secretariat declared in CONFIG
    assert dispatch(app, sink).sent == 0


def test_a_moved_meeting_is_chased_again_a_cancelled_one_not(
    app: App, clock: FixedClock, sink: MailSink
) -> None:
    setup(app)
    clock.set(taipei(2023, 1, 25, 15, 0))
    dispatch(app, sink)  # Feb 8 invitations out
    with app.transaction() as s:
        add_closure(s, date(2023, 2, 8), "颱風停班", clock.now())  # → Feb 9
    for day in range(1, 16):
        clock.set(taipei(2023, 1, 25, 8, 0) + timedelta(days=day))
        dispatch(app, sink)
    # Feb 9's readiness is Feb 6 (3 working days): one chase per agency, of version 1.
    assert sorted(str(m["Message-ID"]).split(".")[2] for m in of_kind(sink, "reply_chase")) == [
        "1",
        "1",
    ]


def test_no_chase_for_a_cancelled_meeting(app: App, clock: FixedClock, sink: MailSink) -> None:
    setup(app)
    clock.set(taipei(2023, 1, 25, 15, 0))
    dispatch(app, sink)
    # The series becomes quarterly: the Feb meeting (already announced) is cancelled.
    cfg = build_config([load_yaml(CONFIG.replace("每月召開1次", "每季召開1次"), "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, clock.now())
    for day in range(1, 16):
        clock.set(taipei(2023, 1, 25, 8, 0) + timedelta(days=day))
        dispatch(app, sink)
    assert of_kind(sink, "reply_chase") == []
    assert Counter(kinds(sink))["cancellation"] == 2


VIEW = MeetingView(
    uid="cp-20230308@liaison.test.example",
    sequence=0,
    title="兒少保護網絡會議",
    start=datetime(2023, 3, 8, 6, tzinfo=UTC),
    end=datetime(2023, 3, 8, 8, tzinfo=UTC),
    location="市府大樓8樓會議室",
    chair="家防中心主任",
    organizer_name="家防中心",
    organizer_email="dvpc@example.org",
    status="scheduled",
    moved_reason=None,
    timezone="Asia/Taipei",
    agenda_url="https://liaison.test/meetings/cp-20230308@liaison.test.example",
)
REPLY = {"reply_url": "https://liaison.test/reply/" + "x" * 43, "seat_role": "出席"}


def test_reply_mails_snapshots() -> None:
    for kind, extra in (
        ("invitation", REPLY),
        ("reply_chase", REPLY),
        ("reply_confirmation", {**REPLY, "answer_text": "代理出席：李大華（組長），代理王小明"}),
    ):
        r = render(kind, "警察局", VIEW, extra)
        assert_snapshot(f"{kind}_with_reply_link.txt", f"Subject: {r.subject}\n\n{r.text}")
        assert REPLY["reply_url"] in r.html
