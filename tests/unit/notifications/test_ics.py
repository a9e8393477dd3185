"""ICS builders: valid for two parsers, folded, escaped, deterministic, iTIP-correct."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar.parser.string import _foldline

from meetings.db import OutboxMessage
from meetings.kernel.localtime import DEFAULT_TIMEZONE
from notifications.email import MeetingView
from notifications.ics import (
    Attendee,
    Party,
    build_cancel,
    build_feed,
    build_feed_reference,
    build_request,
    fold,
)
from notifications.itip import calendar_for_message, meeting_event
from tests.support.feeds import check_ics, sample_event, vevents
from tests.support.snapshots import SNAPSHOTS, assert_snapshot

NOW = datetime(2023, 2, 1, 0, 0, tzinfo=UTC)
TZ = DEFAULT_TIMEZONE  # the builders write local times in the zone they are given


def test_feed_is_valid_and_complete() -> None:
    events = [
        sample_event(0),
        sample_event(1, status="cancelled", sequence=2),
        sample_event(2, summary="兒少保護網絡會議, 臨時; 加開\\會議" * 3, location=None),
    ]
    data = build_feed(
        events,
        calname="測試市 家防中心 會議",
        now=NOW,
        tz="Asia/Taipei",
        refresh=timedelta(hours=2),
    )
    cal = check_ics(data)
    assert cal["X-WR-CALNAME"] == "測試市 家防中心 會議"
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT2H\r\n" in data.decode()
    assert "X-PUBLISHED-TTL:PT2H\r\n" in data.decode()
    assert "METHOD" not in cal
    assert [str(t["TZID"]) for t in cal.walk("VTIMEZONE")] == ["Asia/Taipei"]
    evs = vevents(cal)
    assert len(evs) == 3
    first = evs[events[0].uid]
    assert first["DTSTART"].dt == datetime(2023, 3, 8, 14, 0, tzinfo=first["DTSTART"].dt.tzinfo)
    assert first["DTSTART"].params["TZID"] == "Asia/Taipei"
    assert str(first["ORGANIZER"]) == "mailto:dvpc@example.org"
    assert first["ORGANIZER"].params["CN"] == "家防中心"
    assert str(first["STATUS"]) == "CONFIRMED"
    assert str(first["DESCRIPTION"]) == f"議程 Agenda: {events[0].description_url}"
    assert evs[events[1].uid]["STATUS"] == "CANCELLED"
    assert evs[events[1].uid]["SEQUENCE"] == 2
    third = evs[events[2].uid]
    assert str(third["SUMMARY"]) == events[2].summary  # escaped, folded, read back intact
    assert "LOCATION" not in third


def test_dtstamp_is_last_revision_capped_at_now() -> None:
    late = sample_event(0, last_modified=NOW + timedelta(days=3))
    early = sample_event(1)
    evs = vevents(check_ics(build_feed([late, early], calname="x", now=NOW, tz=TZ)))
    assert evs[late.uid]["DTSTAMP"].dt == NOW
    assert evs[early.uid]["DTSTAMP"].dt == early.last_modified


def test_empty_feed_is_valid() -> None:
    cal = check_ics(build_feed([], calname="空的", now=NOW, tz=TZ))
    assert list(cal.walk("VEVENT")) == [] and list(cal.walk("VTIMEZONE")) == []


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sample_event(0, start=datetime(2023, 3, 8, 14))
    with pytest.raises(ValueError, match="timezone-aware"):
        build_feed([sample_event(0)], calname="x", now=datetime(2023, 3, 8), tz=TZ)
    with pytest.raises(ValueError, match="end is not after start"):
        sample_event(0, end=sample_event(0).start)


texts = st.lists(
    st.sampled_from(list("會議兒少保護a b,;:\\^\"'\n\r\tZ😀é^N") + ["\\N", "\r\n"]),
    max_size=120,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(summary=texts, location=texts, cn=texts, uid_tail=st.text("abc-_.\\,;", max_size=80))
def test_fast_writer_is_byte_identical_to_icalendar(
    summary: str, location: str, cn: str, uid_tail: str
) -> None:
    events = [
        sample_event(0, summary=summary or "x", location=location, organizer_name=cn or None),
        sample_event(1, uid=f"cp-{uid_tail}@x", status="cancelled", sequence=3),
        sample_event(2, organizer_email=None),
        sample_event(3, description_url=None, location=None),
    ]
    fast = build_feed(events, calname=summary or "cal", now=NOW, tz=TZ)
    assert fast == build_feed_reference(events, calname=summary or "cal", now=NOW, tz=TZ)
    check_ics(fast)


@settings(max_examples=300, deadline=None)
@given(line=st.text(alphabet=st.sampled_from(list("ab\\^會😀é ;,")), max_size=400))
def test_fold_matches_icalendar(line: str) -> None:
    assert fold(line) == _foldline(line)
    for physical in fold(line).encode().split(b"\r\n"):
        assert len(physical) <= 75


def test_snapshot_of_a_rendered_feed() -> None:
    events = [
        sample_event(0),
        sample_event(1, sequence=1, start=sample_event(1).start + timedelta(days=1)),
        sample_event(2, status="cancelled", sequence=1),
    ]
    data = build_feed(events, calname="測試市 兒少保護網絡會議", now=NOW, tz="Asia/Taipei")
    check_ics(data)
    assert_snapshot("feed_basic.ics", data)


# --- iTIP --------------------------------------------------------------------------


ATTENDEES = [
    Attendee("police@example.org", "警察局, 婦幼隊"),
    Attendee("edu@example.org", "教育局", role="OPT-PARTICIPANT"),
    Attendee("wang@example.org", '王"護理師'),
    Attendee("POLICE@example.org", "dup"),
]


def test_request_has_method_attendees_and_the_feed_uid() -> None:
    ev = sample_event(0, sequence=4)
    data = build_request(ev, Party("dvpc@example.org", "家防中心"), ATTENDEES, NOW, tz=TZ)
    cal = check_ics(data)
    assert cal["METHOD"] == "REQUEST"
    text = data.decode()
    assert text.index("METHOD:REQUEST") < text.index("BEGIN:VEVENT")
    (vevent,) = cal.walk("VEVENT")
    assert vevent["UID"] == ev.uid and vevent["SEQUENCE"] == 4
    assert vevent["DTSTAMP"].dt == NOW
    assert str(vevent["ORGANIZER"]) == "mailto:dvpc@example.org"
    atts = vevent["ATTENDEE"]
    assert [str(a) for a in atts] == [
        "mailto:police@example.org",
        "mailto:edu@example.org",
        "mailto:wang@example.org",
    ]
    assert atts[0].params["CN"] == "警察局, 婦幼隊"  # the comma is quoted, not escaped
    assert 'CN="警察局, 婦幼隊"' in text.replace("\r\n ", "")
    assert atts[0].params["ROLE"] == "REQ-PARTICIPANT"
    assert atts[1].params["ROLE"] == "OPT-PARTICIPANT"
    assert all(a.params["RSVP"] == "TRUE" for a in atts)
    assert atts[2].params["CN"] == "王護理師"  # a double quote cannot be carried: dropped


def test_update_is_a_request_with_the_new_sequence() -> None:
    organizer = Party("dvpc@example.org", "家防中心")
    first = build_request(sample_event(0), organizer, ATTENDEES[:1], NOW, tz=TZ)
    moved = sample_event(0, sequence=1, start=sample_event(0).start + timedelta(days=1))
    second = build_request(
        moved, organizer, ATTENDEES[:1], NOW + timedelta(hours=1), tz="Asia/Taipei"
    )
    a = check_ics(first).walk("VEVENT")[0]
    b = check_ics(second).walk("VEVENT")[0]
    assert a["UID"] == b["UID"]
    assert (a["SEQUENCE"], b["SEQUENCE"]) == (0, 1)
    assert b["DTSTART"].dt.day == 9


def test_cancel() -> None:
    ev = sample_event(0, sequence=2)
    data = build_cancel(ev, Party("dvpc@example.org"), ATTENDEES[:2], NOW, tz=TZ)
    cal = check_ics(data)
    assert cal["METHOD"] == "CANCEL"
    (vevent,) = cal.walk("VEVENT")
    assert vevent["STATUS"] == "CANCELLED" and vevent["SEQUENCE"] == 2
    assert vevent["UID"] == ev.uid
    assert "RSVP" not in data.decode()


def test_request_for_a_cancelled_event_is_refused() -> None:
    with pytest.raises(ValueError, match="build_cancel"):
        build_request(sample_event(0, status="cancelled"), Party("a@b.org"), [], NOW, tz=TZ)


def test_bad_address_is_refused() -> None:
    with pytest.raises(ValueError, match="not an email"):
        build_request(sample_event(0), Party("a@b.org\r\nX-EVIL:1"), [], NOW, tz=TZ)


def test_icalendar_reads_what_the_snapshot_says() -> None:
    """The snapshot is not just stable but right: one more independent read."""
    path = SNAPSHOTS / "feed_basic.ics"
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    statuses = sorted(str(e["STATUS"]) for e in cal.walk("VEVENT"))
    assert statuses == ["CANCELLED", "CONFIRMED", "CONFIRMED"]


# --- the email attachments (notifications.itip delegates to build_request/build_cancel) ---


def meeting_view(**changes: object) -> MeetingView:
    ev = sample_event(0)
    values: dict[str, object] = {
        "uid": ev.uid,
        "sequence": 0,
        "title": "兒少保護網絡會議",
        "start": ev.start,
        "end": ev.end,
        "location": "市府大樓8樓會議室",
        "chair": "家防中心主任",
        "organizer_name": "家防中心",
        "organizer_email": "dvpc@example.org",
        "status": "scheduled",
        "moved_reason": "颱風停班",
        "timezone": "Asia/Taipei",
        "agenda_url": f"https://liaison.test.example/meetings/{ev.uid}",
    }
    values.update(changes)
    return MeetingView(**values)  # type: ignore[arg-type]


def outbox_row(email: str, name: str | None, role: str | None) -> OutboxMessage:
    return OutboxMessage(recipient=email, recipient_name=name, role=role)


def test_email_invitation_is_the_ics_request() -> None:
    view = meeting_view()
    rows = [outbox_row("police@example.org", "警察局 婦幼警察隊", "REQ-PARTICIPANT")]
    data = calendar_for_message("invitation", view, rows, NOW)
    assert data == build_request(
        meeting_event(view, NOW),
        Party("dvpc@example.org", "家防中心"),
        [Attendee("police@example.org", "警察局 婦幼警察隊")],
        NOW,
        tz=TZ,
    )
    cal = check_ics(data)
    assert cal["METHOD"] == "REQUEST"
    (ev,) = cal.walk("VEVENT")
    assert ev["UID"] == view.uid and ev["SEQUENCE"] == 0 and ev["DTSTAMP"].dt == NOW
    assert ev["ORGANIZER"].params["CN"] == "家防中心"
    (att,) = [ev["ATTENDEE"]]
    assert str(att) == "mailto:police@example.org"
    assert att.params["CN"] == "警察局 婦幼警察隊" and att.params["RSVP"] == "TRUE"
    assert att.params["ROLE"] == "REQ-PARTICIPANT" and att.params["PARTSTAT"] == "NEEDS-ACTION"
    assert "颱風" not in data.decode()  # the move reason stays in the email text, not the ICS


def test_email_update_and_cancellation() -> None:
    moved = meeting_view(sequence=2, start=sample_event(1).start, end=sample_event(1).end)
    rows = [outbox_row("edu@example.org", "教育局", "OPT-PARTICIPANT")]
    update = check_ics(calendar_for_message("update", moved, rows, NOW))
    (ev,) = update.walk("VEVENT")
    assert update["METHOD"] == "REQUEST" and ev["SEQUENCE"] == 2
    assert ev["ATTENDEE"].params["ROLE"] == "OPT-PARTICIPANT"
    cancelled = meeting_view(sequence=3, status="cancelled")
    data = calendar_for_message("cancellation", cancelled, rows, NOW)
    cal = check_ics(data)
    (ev,) = cal.walk("VEVENT")
    assert cal["METHOD"] == "CANCEL" and ev["STATUS"] == "CANCELLED" and ev["SEQUENCE"] == 3
    assert ev["UID"] == cancelled.uid and "RSVP" not in data.decode()


def test_email_calendar_without_organizer_address_uses_the_city_sender() -> None:
    view = meeting_view(organizer_email=None, agenda_url=None)
    data = calendar_for_message("invitation", view, [outbox_row("a@example.org", None, None)], NOW)
    (ev,) = check_ics(data).walk("VEVENT")
    assert str(ev["ORGANIZER"]) == "mailto:noreply@liaison.test.example"
    assert ev["ORGANIZER"].params["CN"] == "家防中心"
    assert "DESCRIPTION" not in ev and "URL" not in ev
    assert ev["ATTENDEE"].params["ROLE"] == "REQ-PARTICIPANT" and "CN" not in ev["ATTENDEE"].params
