"""A batch of inbound mails in one transaction (the IMAP poll's path): each mail in a
savepoint of its own, so one bad mail, or a database error on one, costs only itself."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import sessionmaker

from meetings.db import SeatAnswer
from meetings.kernel.vocabulary import InboundStatus, SeatState
from notifications.inbound.process import DUPLICATE, ERROR, receive_batch
from scheduler.bootstrap import App
from scheduler.db import make_engine
from tests.integration.inbound.clients import Who, google_reply, outlook_reply, plain_mail
from tests.integration.inbound.conftest import Meetings, inbound, seats

REFUSED = "<refused@x>"


def refuse_message(app: App, message_id: str) -> None:
    """A trigger that makes the database itself refuse one Message-ID (a real error)."""
    with app.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    f"BEGIN IF NEW.message_id = '{message_id}' THEN "
                    "RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_one BEFORE INSERT ON inbound_messages "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_one()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_one BEFORE INSERT ON inbound_messages "
                    f"WHEN NEW.message_id = '{message_id}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )


def test_a_batch_keeps_each_outcome_and_a_repeat_inside_it_is_a_duplicate(
    app: App, meetings: Meetings
) -> None:
    pol = outlook_reply(meetings.first, Who("pol@police.example.org", "王小明"))
    edu = google_reply(
        meetings.first, Who("edu@edu.example.org", "林老師", "DECLINED"), message_id="<e@x>"
    )
    plain = plain_mail("pol@police.example.org", "我會出席", "好的", "<plain@x>")
    out = receive_batch(
        app.sessions, [(pol, None), (plain, None), (pol, None), (edu, None)], app.clock.now()
    )
    assert [o.status for o in out] == [
        InboundStatus.APPLIED,
        InboundStatus.QUARANTINED,
        DUPLICATE,
        InboundStatus.APPLIED,
    ]
    assert all(o.stored for o in out)
    got = seats(app, meetings.first)
    assert (got["POL"].state, got["EDU"].state) == (SeatState.DESIGNATED, SeatState.DECLINED)
    assert set(inbound(app)) == {out[0].message_id, "<plain@x>", "<e@x>"}
    with app.transaction() as s:
        assert len(s.scalars(select(SeatAnswer)).all()) == 2


def test_a_database_error_on_one_mail_rolls_back_only_that_mail(
    app: App, meetings: Meetings
) -> None:
    refuse_message(app, REFUSED)
    refused = outlook_reply(
        meetings.first, Who("pol@police.example.org", "王小明"), message_id=REFUSED
    )
    edu = outlook_reply(meetings.first, Who("edu@edu.example.org", "林老師"), message_id="<e@x>")
    out = receive_batch(app.sessions, [(refused, None), (edu, None)], app.clock.now())
    assert [(o.message_id, o.status) for o in out] == [
        (REFUSED, ERROR),
        ("<e@x>", InboundStatus.APPLIED),
    ]
    assert not out[0].stored  # left in the mailbox for the next poll
    got = seats(app, meetings.first)
    # The refused mail's seat answer went with its savepoint; the next mail's stayed.
    assert (got["POL"].state, got["EDU"].state) == (SeatState.INVITED, SeatState.DESIGNATED)
    assert set(inbound(app)) == {"<e@x>"}


def test_when_the_batch_cannot_commit_nothing_counts_as_stored(
    app: App, meetings: Meetings, tmp_path: Path
) -> None:
    broken = sessionmaker(make_engine(f"sqlite:///{tmp_path / 'missing' / 'no.db'}"))
    a = outlook_reply(meetings.first, Who("pol@police.example.org"), message_id="<a@x>")
    b = outlook_reply(meetings.first, Who("edu@edu.example.org"), message_id="<b@x>")
    out = receive_batch(broken, [(a, None), (b, None)], app.clock.now())
    assert [(o.message_id, o.status, o.stored) for o in out] == [
        ("<a@x>", ERROR, False),
        ("<b@x>", ERROR, False),
    ]
    assert inbound(app) == {}
