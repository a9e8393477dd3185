"""One inbound mail against the real schema: mapping rules, city scope, exactly once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from meetings.db import Occurrence, Seat, SeatAnswer
from meetings.kernel.vocabulary import InboundStatus, SeatState
from notifications.inbound.process import DUPLICATE, ERROR, receive
from scheduler.bootstrap import App
from scheduler.db import make_engine
from tests.integration.inbound.clients import (
    Who,
    apple_reply,
    google_reply,
    outlook_reply,
    plain_mail,
    thunderbird_delegation,
)
from tests.integration.inbound.conftest import CITY, Meetings, inbound, load_city, seats
from tests.support.configs import BASE


def test_outlook_reply_without_organizer_designates_and_makes_the_seats(
    app: App, meetings: Meetings
) -> None:
    # No invitation went out yet: the meeting has no stored seats; the reply makes them.
    assert seats(app, meetings.first) == {}
    raw = outlook_reply(meetings.first, Who("pol@police.example.org", "王小明"))
    out = receive(app.sessions, raw, app.clock.now())
    assert out.status == InboundStatus.APPLIED
    got = seats(app, meetings.first)
    assert set(got) == {"DVPC", "POL", "EDU"}
    assert (got["POL"].state, got["POL"].person, got["POL"].channel) == (
        SeatState.DESIGNATED,
        "王小明",
        "itip",
    )
    assert got["POL"].answered_by == "pol@police.example.org"
    row = inbound(app)[out.message_id]
    assert (row.status, row.seat_id, row.occurrence_uid) == (
        "applied",
        got["POL"].id,
        meetings.first,
    )
    assert row.subject == "已接受: 兒少保護網絡會議"
    # Delivered again: nothing changes, no second answer.
    again = receive(app.sessions, raw, app.clock.now())
    assert again.status == DUPLICATE
    with app.transaction() as s:
        assert len(s.scalars(select(SeatAnswer)).all()) == 1


def test_alias_unit_and_delegate_addresses_map_to_their_agency(
    app: App, meetings: Meetings
) -> None:
    now = app.clock.now()
    # A colleague at the police's domain (no declared address): the one invited agency there.
    colleague = apple_reply(
        meetings.first,
        Who("chen.ops@police.example.org", "陳警官", "TENTATIVE"),
        message_id="<a@x>",
    )
    assert receive(app.sessions, colleague, now).status == InboundStatus.APPLIED
    assert seats(app, meetings.first)["POL"].state == SeatState.TENTATIVE
    # A district unit's declared address is its agency's.
    unit = outlook_reply(
        meetings.second, Who("jia@jia-police.example.org", "甲分局長"), message_id="<u@x>"
    )
    assert receive(app.sessions, unit, now).status == InboundStatus.APPLIED
    assert seats(app, meetings.second)["POL"].person == "甲分局長"
    # A delegate answering from a private address, DELEGATED-FROM the agency's address.
    delegate = Who("deputy@mail.example.net", "林代理", "ACCEPTED")
    delegate.params["DELEGATED-FROM"] = "mailto:edu@edu.example.org"
    raw = google_reply(meetings.first, delegate, message_id="<d@x>")
    assert receive(app.sessions, raw, now).status == InboundStatus.APPLIED
    edu = seats(app, meetings.first)["EDU"]
    assert (edu.state, edu.person, edu.for_whom) == (
        SeatState.DEPUTY,
        "林代理",
        "edu@edu.example.org",
    )


def test_delegation_declined_comment_and_stale_sequence(app: App, meetings: Meetings) -> None:
    now = app.clock.now()
    raw = thunderbird_delegation(
        meetings.first,
        Who("dvpc@dvpc.example.org", "陳主任"),
        Who("wu@dvpc.example.org", "吳社工"),
        message_id="<tb@x>",
    )
    assert receive(app.sessions, raw, now).status == InboundStatus.APPLIED
    dvpc = seats(app, meetings.first)["DVPC"]
    assert (dvpc.state, dvpc.person, dvpc.for_whom) == (SeatState.DEPUTY, "吳社工", "陳主任")
    declined = google_reply(
        meetings.first,
        Who("edu@edu.example.org", "林老師", "DECLINED"),
        message_id="<g@x>",
        comment="另有公務，電話 0912-345-678",
    )
    assert receive(app.sessions, declined, now).status == InboundStatus.APPLIED
    edu = seats(app, meetings.first)["EDU"]
    assert edu.state == SeatState.DECLINED and "0912" not in (edu.reason or "")
    with app.transaction() as s:  # the meeting moved twice since
        s.execute(update(Occurrence).where(Occurrence.uid == meetings.first).values(sequence=2))
    old = outlook_reply(
        meetings.first, Who("edu@edu.example.org", "林老師"), sequence=1, message_id="<old@x>"
    )
    out = receive(app.sessions, old, now)
    assert out.status == InboundStatus.HISTORY and "SEQUENCE 1 < 2" in (out.reason or "")
    assert seats(app, meetings.first)["EDU"].state == SeatState.DECLINED  # not applied
    with app.transaction() as s:
        kept = s.scalars(select(SeatAnswer).where(SeatAnswer.applied.is_(False))).all()
        assert [a.state for a in kept] == [SeatState.DESIGNATED]


def test_counter_is_kept_and_never_applied(app: App, meetings: Meetings) -> None:
    with app.transaction() as s:
        occ = s.scalars(select(Occurrence).where(Occurrence.uid == meetings.first)).one()
        start = occ.start_at + timedelta(days=1)
    raw = outlook_reply(
        meetings.first,
        Who("pol@police.example.org", "王小明", "TENTATIVE"),
        method="COUNTER",
        start=start,
        end=start + timedelta(hours=2),
        comment="當日另有勤務",
        message_id="<counter@x>",
    )
    out = receive(app.sessions, raw, app.clock.now())
    assert out.status == InboundStatus.COUNTER
    row = inbound(app)["<counter@x>"]
    assert (row.proposed_start, row.proposed_end) == (start, start + timedelta(hours=2))
    assert row.reason == "當日另有勤務"
    assert seats(app, meetings.first)["POL"].state == SeatState.INVITED
    with app.transaction() as s:
        occ = s.scalars(select(Occurrence).where(Occurrence.uid == meetings.first)).one()
        assert occ.start_at == start - timedelta(days=1)


def test_what_cannot_be_used_is_quarantined_with_the_reason(app: App, meetings: Meetings) -> None:
    now = app.clock.now()
    cases = {
        "<unknown@x>": outlook_reply(
            meetings.first, Who("someone@elsewhere.example", "某人"), message_id="<unknown@x>"
        ),
        "<nouid@x>": outlook_reply(
            "nothing@liaison.test.example", Who("pol@police.example.org"), message_id="<nouid@x>"
        ),
        "<plain@x>": plain_mail("pol@police.example.org", "我會出席", "好的", "<plain@x>"),
        "<garbage@x>": b"Message-ID: <garbage@x>\r\nContent-Type: text/calendar\r\n\r\n\x00\xff"
        b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\n",
        "<request@x>": outlook_reply(
            meetings.first,
            Who("pol@police.example.org"),
            method="REQUEST",
            message_id="<request@x>",
        ),
    }
    reasons = {mid: receive(app.sessions, raw, now).reason for mid, raw in cases.items()}
    assert reasons == {
        "<unknown@x>": "unknown sender",
        "<nouid@x>": "unknown meeting UID",
        "<plain@x>": "no calendar part (text/calendar or .ics)",
        "<garbage@x>": "unparseable calendar",
        "<request@x>": "METHOD 'REQUEST' is not REPLY or COUNTER",
    }
    rows = inbound(app)
    assert {m: r.status for m, r in rows.items()} == dict.fromkeys(cases, "quarantined")
    assert rows["<nouid@x>"].city_id is not None  # the UID's domain names the city
    assert rows["<plain@x>"].city_id is None
    with app.transaction() as s:
        assert s.scalars(select(SeatAnswer)).all() == []


def test_cancelled_or_ended_meetings_take_no_answers(app: App, meetings: Meetings) -> None:
    with app.transaction() as s:
        s.execute(
            update(Occurrence).where(Occurrence.uid == meetings.first).values(status="cancelled")
        )
        end = s.scalars(select(Occurrence.end_at).where(Occurrence.uid == meetings.second)).one()
    who = Who("pol@police.example.org", "王小明")
    cancelled = receive(app.sessions, outlook_reply(meetings.first, who, message_id="<c@x>"), end)
    over = receive(app.sessions, outlook_reply(meetings.second, who, message_id="<o@x>"), end)
    assert (cancelled.reason, over.reason) == ("the meeting was cancelled", "the meeting is over")
    with app.transaction() as s:
        assert s.scalars(select(Seat).where(Seat.state != "invited")).all() == []


def test_another_citys_agency_is_an_unknown_sender(app: App) -> None:
    other = (
        BASE.replace("city: 測試市", "city: 紐約市")
        .replace("domain: liaison.test.example", "domain: ny.test.example")
        .replace("id: cp\n", "id: ny\n")
        .replace("dvpc@example.org", "dvpc@ny-dvpc.example.org")
    )
    ours = load_city(app, CITY)
    load_city(app, other)
    with app.transaction() as s:
        theirs = s.scalars(select(Occurrence.uid).where(Occurrence.series_id == "ny")).first()
    assert theirs is not None
    who = Who("dvpc@ny-dvpc.example.org", "紐約")
    raw = outlook_reply(ours.first, who, message_id="<ny@x>")
    assert receive(app.sessions, raw, app.clock.now()).reason == "unknown sender"
    raw = outlook_reply(theirs, who, message_id="<ny2@x>")  # their own meeting: known
    assert receive(app.sessions, raw, app.clock.now()).status == InboundStatus.APPLIED


def test_a_database_error_is_reported_and_the_next_message_still_goes(
    app: App, meetings: Meetings, tmp_path: Path
) -> None:
    broken = sessionmaker(make_engine(f"sqlite:///{tmp_path / 'missing' / 'no.db'}"))
    raw = outlook_reply(meetings.first, Who("pol@police.example.org", "王小明"))
    failed = receive(broken, raw, app.clock.now())
    assert failed.status == ERROR and not failed.stored
    assert receive(app.sessions, raw, app.clock.now()).status == InboundStatus.APPLIED
