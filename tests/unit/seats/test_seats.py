"""Seats and the one answer writer: against the real (SQLite/PostgreSQL) schema."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from meetings.db import Occurrence, OutboxEvent, Seat, SeatAnswer
from meetings.kernel.vocabulary import EventKind, ReplyChannel, SeatRole, SeatState
from meetings.seats.answers import Answer, AnswerError, answer_seat
from meetings.seats.seats import (
    TOKEN_LENGTH,
    history_of,
    reply_token,
    seat_for_token,
    sync_seats,
)
from scheduler.bootstrap import App
from tests.support.configs import CONFIG
from tests.unit.notifications.test_notify import setup

KEY = "k" * 43
OBSERVED = CONFIG.replace(
    "invite: {required: [DVPC, POL]}", "invite: {required: [DVPC], observers: [POL]}"
)


def first(app: App, s) -> Occurrence:  # type: ignore[no-untyped-def]
    return s.scalars(select(Occurrence).order_by(Occurrence.start_at)).first()


def test_seats_follow_the_declaration_and_tokens_open_only_their_seat(app: App) -> None:
    setup(app, OBSERVED, date(2023, 1, 1), date(2023, 3, 31))
    now = app.clock.now()
    with app.transaction() as s:
        occ = first(app, s)
        seats = sync_seats(s, occ, KEY, now)
        assert [(x.agency_code, x.required, x.role) for x in seats] == [
            ("DVPC", True, SeatRole.MEMBER),
            ("POL", False, SeatRole.OBSERVER),
        ]
        assert sync_seats(s, occ, KEY, now) == seats  # idempotent
        token = reply_token(KEY, seats[0])
        assert len(token) == TOKEN_LENGTH
        assert seats[0].token_hash != token and token not in seats[0].nonce
        found = seat_for_token(s, token, now)
        assert found is not None and found[0].id == seats[0].id
        assert seat_for_token(s, token[:-1] + ("A" if token[-1] != "A" else "B"), now) is None
        assert seat_for_token(s, "../../etc", now) is None
        assert seat_for_token(s, token, occ.end_at + timedelta(seconds=1)) is None


def test_latest_answer_wins_stale_sequence_is_history_only(app: App) -> None:
    setup(app, CONFIG, date(2023, 1, 1), date(2023, 3, 31))
    now = app.clock.now()
    with app.transaction() as s:
        occ = first(app, s)
        seat = sync_seats(s, occ, KEY, now)[0]
        answer_seat(
            s, seat, occ, Answer(SeatState.DESIGNATED, ReplyChannel.LINK, "王小明", "科長"), now
        )
        answer_seat(
            s,
            seat,
            occ,
            Answer(SeatState.DECLINED, ReplyChannel.ITIP, by="a@x", sequence=occ.sequence - 1),
            now,
        )
        assert seat.state == SeatState.DESIGNATED and seat.person == "王小明"
        answer_seat(
            s,
            seat,
            occ,
            Answer(SeatState.DEPUTY, ReplyChannel.SECRETARIAT, "李大華", for_whom="王小明"),
            now,
        )
        assert (seat.state, seat.person, seat.for_whom) == (SeatState.DEPUTY, "李大華", "王小明")
        assert [h.applied for h in history_of(s, seat)] == [True, False, True]
        events = s.scalars(
            select(OutboxEvent).where(OutboxEvent.kind == EventKind.SEAT_ANSWERED)
        ).all()
        assert len(events) == 2


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        (Answer(SeatState.DESIGNATED, ReplyChannel.LINK), "person"),
        (Answer(SeatState.DECLINED, ReplyChannel.LINK), "reason"),
        (Answer(SeatState.DESIGNATED, ReplyChannel.LINK, "王" * 101), "person"),
        (Answer(SeatState.DESIGNATED, ReplyChannel.LINK, "a\x00b"), "person"),
        (Answer(SeatState.INVITED, ReplyChannel.LINK), "state"),
    ],
)
def test_bad_answers_name_the_field_and_change_nothing(
    app: App, answer: Answer, field: str
) -> None:
    setup(app, CONFIG, date(2023, 1, 1), date(2023, 3, 31))
    now = app.clock.now()
    with app.transaction() as s:
        occ = first(app, s)
        seat = sync_seats(s, occ, KEY, now)[0]
        with pytest.raises(AnswerError, match=field):
            answer_seat(s, seat, occ, answer, now)
        assert seat.state == SeatState.INVITED
        assert s.scalars(select(SeatAnswer)).all() == []


def test_free_text_is_screened_before_it_is_stored(app: App) -> None:
    setup(app, CONFIG, date(2023, 1, 1), date(2023, 3, 31))
    now = app.clock.now()
    with app.transaction() as s:
        occ = first(app, s)
        seat = sync_seats(s, occ, KEY, now)[0]
        answer_seat(
            s,
            seat,
            occ,
            Answer(SeatState.DECLINED, ReplyChannel.LINK, reason="請洽 0912-345-678 A123456789"),
            now,
        )
        assert "0912" not in (seat.reason or "") and "A123456789" not in (seat.reason or "")
        assert s.scalar(select(Seat.reason).where(Seat.id == seat.id)) == seat.reason
