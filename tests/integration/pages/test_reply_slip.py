"""The reply slip (回條) and the meeting page's seats over real HTTP, at 12 Jan 2023 10:00.

The February cp-network meeting (8 Feb 2023 14:00) invites 家防中心 and 警察局; 衛生局 is
declared an observer (列席) here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from meetings.access.users import add_user, secret
from meetings.cases.config import load_config
from meetings.db import InboundMessage, Occurrence, Seat, SeatAnswer
from meetings.kernel.vocabulary import InboundStatus, ReplyChannel, SeatState
from meetings.kernel.yamlsource import load_yaml
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from meetings.seats.seats import reply_token, sync_seats
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import taipei
from tests.support.cases import csv_text, import_text, uid
from tests.support.feeds import live_server
from tests.support.pages import CITY, CITY_NAME, JAN, PASSWORD, USERS

FEB = uid("cp-network", "20230208")
OBSERVED = CITY.replace(
    "invite: {required: [DVPC, POL]}\n    agenda: {listing_rule: cp-high-risk",
    "invite: {required: [DVPC, POL], observers: [HEALTH]}\n    agenda: {listing_rule: cp-high-risk",
    1,
)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def reply_site(app: App, tmp_path: Path, clock: FixedClock) -> Iterator[str]:
    assert OBSERVED != CITY
    clock.set(taipei(2023, 1, 12, 10, 0))
    with app.transaction() as s:
        load_config(s, build_config([load_yaml(OBSERVED, "city.yaml")]), clock.now())
        generate_schedule(s, date(2023, 1, 1), date(2023, 6, 30), clock.now())
    import_text(app, tmp_path, csv_text())
    with app.transaction() as s:
        for email, role in USERS.items():
            add_user(s, email, role, PASSWORD, clock.now(), city=CITY_NAME)
    with live_server(app) as server:
        yield server.base


def links(app: App, meeting: str = FEB) -> dict[str, str]:
    """agency code → its seat's reply token (the seats made as invitations make them)."""
    now = app.clock.now()
    with app.transaction() as s:
        occ = s.scalar(select(Occurrence).where(Occurrence.uid == meeting))
        assert occ is not None
        key = secret(s, "reply-links", now)
        return {seat.agency_code: reply_token(key, seat) for seat in sync_seats(s, occ, key, now)}


def client(site: str) -> httpx.Client:
    return httpx.Client(base_url=site, follow_redirects=False, timeout=30)


def csrf_of(text: str) -> str:
    found = CSRF.search(text)
    assert found, text[:300]
    return found.group(1)


def logged_in(site: str, email: str) -> httpx.Client:
    c = client(site)
    r = c.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf": csrf_of(c.get("/login").text)}
    )
    assert r.status_code == 303, r.text[:300]
    return c


def answers(app: App) -> int:
    with app.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(SeatAnswer)) or 0)


def test_the_slip_shows_the_meeting_and_no_case_data(reply_site: str, app: App) -> None:
    token = links(app)["HEALTH"]
    with client(reply_site) as c:
        r = c.get(f"/reply/{token}")
    assert r.status_code == 200, r.text[:300]
    assert "兒少保護個案跨網絡合作會議" in r.text
    assert "112年2月8日（星期三）下午2時" in r.text
    assert "家防中心8樓會議室" in r.text and "衛生局（列席" in r.text and "尚未回覆" in r.text
    assert "CP-" not in r.text and "個案編號" not in r.text
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["X-Robots-Tag"].startswith("noindex")
    assert r.headers["Cache-Control"] == "no-store"
    assert token not in r.text  # the form posts back to its own address


def test_an_answer_is_recorded_by_the_one_writer(reply_site: str, app: App) -> None:
    token = links(app)["POL"]
    with client(reply_site) as c:
        form = csrf_of(c.get(f"/reply/{token}").text)
        r = c.post(
            f"/reply/{token}",
            data={
                "csrf": form,
                "state": "deputy",
                "person": "李大華",
                "title": "巡佐",
                "for_whom": "王組長",
            },
        )
    assert r.status_code == 200, r.text[:300]
    assert "已收到回覆，確認信將寄至貴單位信箱" in r.text and "代理出席" in r.text
    with app.transaction() as s:
        seat = s.scalars(select(Seat).where(Seat.agency_code == "POL")).one()
        assert (seat.state, seat.person, seat.title, seat.for_whom) == (
            SeatState.DEPUTY,
            "李大華",
            "巡佐",
            "王組長",
        )
        assert (seat.channel, seat.answered_by) == (ReplyChannel.LINK, "reply-slip")


def test_every_dead_link_is_the_same_404(reply_site: str, app: App, clock: FixedClock) -> None:
    tokens = links(app)
    jan = links(app, JAN)["DVPC"]  # its meeting is over
    good = tokens["DVPC"]
    flipped = good[:-1] + ("A" if good[-1] != "A" else "B")
    bodies = set()
    with client(reply_site) as c:
        for bad in (flipped, jan, "x", "...", "%00", "A" * 43, "é" * 43, "A" * 5000):
            r = c.get(f"/reply/{bad}")
            assert r.status_code == 404, bad
            assert r.headers["Referrer-Policy"] == "no-referrer"
            bodies.add(r.text)
        r = c.post(f"/reply/{flipped}", data={"csrf": csrf_of(c.get(f"/reply/{good}").text)})
        assert r.status_code == 404
        bodies.add(r.text)
    assert len(bodies) == 1
    assert "無效或已逾期" in bodies.pop()


def test_a_post_without_the_csrf_token_is_refused(reply_site: str, app: App) -> None:
    token = links(app)["DVPC"]
    with client(reply_site) as c:
        c.get(f"/reply/{token}")
        data = {"state": "declined", "reason": "公出"}
        assert c.post(f"/reply/{token}", data=data).status_code == 403
        assert c.post(f"/reply/{token}", data={**data, "csrf": "forged"}).status_code == 403
    with client(reply_site) as stranger:  # no session cookie at all
        assert stranger.post(f"/reply/{token}", data={**data, "csrf": "x"}).status_code == 403
    assert answers(app) == 0


def test_a_refused_answer_keeps_the_input_and_names_the_field(reply_site: str, app: App) -> None:
    token = links(app)["DVPC"]
    with client(reply_site) as c:
        form = csrf_of(c.get(f"/reply/{token}").text)
        r = c.post(
            f"/reply/{token}",
            data={"csrf": form, "state": "designated", "person": "", "title": "組長<b>"},
        )
        assert r.status_code == 400
        assert "請填寫出席人員姓名" in r.text and 'aria-invalid="true"' in r.text
        assert 'value="組長&lt;b&gt;"' in r.text  # kept, escaped
        long = c.post(
            f"/reply/{token}", data={"csrf": form, "state": "declined", "reason": "久" * 201}
        )
        assert long.status_code == 400 and "請假事由最多 200 字" in long.text
        assert "久" * 201 in long.text
        odd = c.post(f"/reply/{token}", data={"csrf": form, "state": "tentative"})
        assert odd.status_code == 400 and "請選擇回覆方式" in odd.text
    assert answers(app) == 0


def test_too_many_requests_from_one_address_wait(reply_site: str, app: App) -> None:
    token = links(app)["DVPC"]
    with client(reply_site) as c:
        form = csrf_of(c.get(f"/reply/{token}").text)
        data = {"csrf": form, "state": "declined", "reason": "公出"}
        statuses = [c.post(f"/reply/{token}", data=data).status_code for _ in range(21)]
        assert statuses[:20] == [200] * 20 and statuses[20] == 429
        blocked = c.get(f"/reply/{token}")
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    assert answers(app) == 20  # the refused one wrote nothing


def test_the_meeting_page_shows_seats_and_counter_proposals(reply_site: str, app: App) -> None:
    token = links(app)["POL"]
    now = app.clock.now()
    with client(reply_site) as c:
        form = csrf_of(c.get(f"/reply/{token}").text)
        data = {"csrf": form, "state": "designated", "person": "王小明", "title": "組長"}
        assert c.post(f"/reply/{token}", data=data).status_code == 200
    with app.transaction() as s:
        s.add(
            InboundMessage(
                message_id="<counter-1@example.org>",
                sender="police@example.org",
                status=InboundStatus.COUNTER,
                occurrence_uid=FEB,
                proposed_start=taipei(2023, 2, 9, 10, 0),
                proposed_end=taipei(2023, 2, 9, 12, 0),
                received_at=now,
            )
        )
    staff = logged_in(reply_site, "chen@example.org")
    page = staff.get(f"/meetings/{FEB}").text
    seats = page[page.index('id="seats"') : page.index('id="agenda"')]
    assert "指派出席" in seats and "組長 王小明" in seats and "回條" in seats
    assert "衛生局" in seats and "列席" in seats
    assert "police@example.org 提議 112年2月9日（星期四）上午10時至中午12時" in seats
    assert "代為登錄" in seats
    notice = staff.get(f"/meetings/{FEB}/notice").text
    assert "警察局（組長 王小明）" in notice and "<th>列席者</th><td>衛生局</td>" in notice
    participant = logged_in(reply_site, "li@example.org").get(f"/meetings/{FEB}").text
    assert "王小明" in participant and "代為登錄" not in participant
    assert "police@example.org" not in participant


def override(c: httpx.Client, meeting: str, agency: str, **form: str) -> httpx.Response:
    token = csrf_of(c.get("/meetings").text)
    return c.post(f"/meetings/{meeting}/seats/{agency}", data={**form, "csrf": token})


def test_the_secretariat_overrides_and_it_is_in_the_history(reply_site: str, app: App) -> None:
    staff = logged_in(reply_site, "chen@example.org")
    r = override(staff, FEB, "DVPC", state="declined", reason="主任公出")
    assert r.status_code == 303, r.text[:300]
    page = staff.get(f"/meetings/{FEB}").text
    assert "已代為登錄DVPC的回覆：請假" in page
    with app.transaction() as s:
        seat = s.scalars(select(Seat).where(Seat.agency_code == "DVPC")).one()
        assert (seat.state, seat.reason, seat.channel) == (
            SeatState.DECLINED,
            "主任公出",
            ReplyChannel.SECRETARIAT,
        )
        row = s.scalars(select(SeatAnswer)).one()
        assert (row.answered_by, row.note, row.channel) == (
            "chen@example.org",
            "web.seat_override",
            ReplyChannel.SECRETARIAT,
        )
    notice = staff.get(f"/meetings/{FEB}/notice").text
    assert "<th>出席者</th><td>警察局</td>" in notice  # 家防中心 declined
    refused = override(staff, FEB, "DVPC", state="designated")
    assert refused.status_code == 303
    assert "請填寫出席人員姓名" in staff.get(f"/meetings/{FEB}").text
    assert override(staff, FEB, "NOPE", state="declined", reason="x").status_code == 404
    assert answers(app) == 1


def test_attendance_is_prefilled_from_the_seats(reply_site: str, app: App) -> None:
    staff = logged_in(reply_site, "chen@example.org")
    assert (
        override(staff, JAN, "POL", state="deputy", person="李大華", title="巡佐").status_code
        == 303
    )
    page = staff.get(f"/meetings/{JAN}").text
    form = page[page.index('id="attendance"') :]
    pol = form[form.index('aria-label="警察局 出席情形"') :]
    assert re.search(r'value="delegated"\s+selected', pol[: pol.index("</select>")])
    assert 'value="巡佐"' in pol and "依出席回覆預填" in form


def test_a_participant_cannot_override_and_other_cities_are_unknown(
    reply_site: str, app: App
) -> None:
    participant = logged_in(reply_site, "li@example.org")
    r = override(participant, FEB, "POL", state="declined", reason="公出")
    assert r.status_code == 403
    staff = logged_in(reply_site, "chen@example.org")
    unknown = override(staff, "nope@liaison.test.example", "POL", state="declined", reason="x")
    assert unknown.status_code == 404
    assert answers(app) == 0
