"""Migration 0010: event meetings with a hashed UID get a random one, and calendars follow.

The database is built at head by the real pipeline (cases imported, invitations mailed to
an SMTP server on loopback), then turned into an old one: its UIDs renamed to the hashed
form they had before issue 12 and its revision set back to 0009.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from types import ModuleType

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from icalendar import Calendar
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from meetings.cases.config import load_config
from meetings.db import Occurrence, OutboxMessage
from meetings.kernel.yamlsource import load_yaml
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import ChangeReport, apply_placement
from notifications.mailsink import MailSink
from notifications.outbox.dispatch import dispatch_due
from notifications.outbox.planner import plan_messages
from notifications.smtp import SmtpMailer, parse_smtp_url
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from scheduler.db import ALEMBIC_DIR, alembic_config, migrate
from tests.conftest import taipei
from tests.support.cases import CITY, DOMAIN, add_viewers, csv_text, import_text
from tests.support.mail import everything

CASES = [f"NA-00{n},偏差行為,中壢區,,,,,開案,SCHOOL,,2023-01-18,,," for n in (1, 2)]
SCHOOLS = ("school@example.org", "counsel@example.org")


def migration() -> ModuleType:
    path = Path(ALEMBIC_DIR) / "versions" / "0010_rekey_event_meeting_uids.py"
    spec = importlib.util.spec_from_file_location("rekey_0010", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as s:
        yield s


def dispatch(app: App, sink: MailSink) -> list[EmailMessage]:
    before = len(sink.handler.messages)
    smtp = parse_smtp_url(sink.url)
    asyncio.run(
        dispatch_due(
            app.sessions, lambda: SmtpMailer(smtp), app.clock.now(), base_url="https://l.test"
        )
    )
    return sink.handler.messages[before:]


def calendar_of(msg: EmailMessage) -> tuple[str, str, int]:
    """(METHOD, UID, SEQUENCE) of a mail's calendar part."""
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            cal = Calendar.from_ical(payload)
            (ev,) = cal.walk("VEVENT")
            return str(cal["METHOD"]), str(ev["UID"]), int(ev["SEQUENCE"])
    raise AssertionError("no calendar part")


def kind_of(msg: EmailMessage) -> str:
    return str(msg["Message-ID"]).split(".")[1]


def hashed_uid(occ: Occurrence) -> str:
    """The UID an event meeting had before issue 12 (``meetings/case_operations.py:142``)."""
    digest = hashlib.sha256(f"{DOMAIN}\n{occ.case_no}".encode()).hexdigest()[:12]
    return f"{occ.series_id}-{occ.nominal_date:%Y%m%d}-c{digest}@{DOMAIN}"


def tables_holding(app: App, needle: str) -> set[str]:
    """The tables with a row any of whose values (JSON included) contains ``needle``."""
    found = set()
    with app.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                if needle in repr(tuple(row)):
                    found.add(table)
                    break
    return found


def with_school_addresses(city: str) -> str:
    """The test city, its schools' agencies given addresses (the invitees here)."""
    for code, name, email in (
        ("SCHOOL", "學校", SCHOOLS[0]),
        ("COUNSEL", "學生輔導諮商中心", SCHOOLS[1]),
    ):
        city = city.replace(
            f"{{code: {code}, name: {name}}}", f"{{code: {code}, name: {name}, emails: [{email}]}}"
        )
    return city


def load(app: App, city: str) -> None:
    with app.transaction() as s:
        load_config(s, build_config([load_yaml(city, "city.yaml")]), app.clock.now())
    add_viewers(app)


def event_meetings(s: Session) -> list[Occurrence]:
    return list(s.scalars(select(Occurrence).where(Occurrence.origin == "event")))


def invited_and_made_old(
    app: App, clock: FixedClock, sink: MailSink, tmp_path: Path
) -> dict[str, str]:
    """Two event meetings, their invitations mailed; returns {uid now: hashed UID of old}."""
    load(app, with_school_addresses(CITY))
    clock.set(taipei(2023, 1, 18, 10, 0))
    import_text(app, tmp_path, csv_text(CASES))
    clock.set(taipei(2023, 1, 18, 10, 30))  # both within 14 days: the invitations go now
    sent = dispatch(app, sink)
    assert sorted(kind_of(m) for m in sent if kind_of(m) == "invitation") == ["invitation"] * 4
    with app.transaction() as s:
        return {o.uid: hashed_uid(o) for o in event_meetings(s)}


def make_old(app: App, current: dict[str, str]) -> None:
    """Give the meetings the UIDs of before issue 12 and the schema revision 0009."""
    cfg = alembic_config(app.engine)
    with app.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010")  # the later migrations' columns go first
        migration().rename_uids(conn, current)
        conn.execute(text("UPDATE alembic_version SET version_num = '0009'"))


def test_event_meetings_are_rekeyed_and_invitees_get_the_old_entry_removed(
    app: App, clock: FixedClock, sink: MailSink, tmp_path: Path
) -> None:
    current = invited_and_made_old(app, clock, sink, tmp_path)
    assert len(current) == 2
    make_old(app, current)
    old = set(current.values())

    migrate(app.engine)

    with app.transaction() as s:
        rekeyed = {
            o.case_no: o.uid
            for o in s.scalars(select(Occurrence).where(Occurrence.origin == "event"))
        }
    for uid in rekeyed.values():
        assert re.fullmatch(rf"needs-assessment-e[0-9a-f]{{20}}@{re.escape(DOMAIN)}", uid)
        assert uid not in current  # new random ones, not the ones we started from
    assert set(rekeyed) == {"NA-001", "NA-002"}
    for uid in old:
        # Only the event that tells the planner, until planning puts it where it must go.
        assert tables_holding(app, uid) == {"outbox_events"}

    mails = dispatch(app, sink)
    by_kind: dict[str, list[EmailMessage]] = {}
    for m in mails:
        by_kind.setdefault(kind_of(m), []).append(m)
    assert sorted(by_kind) == ["invitation", "renumbered"]
    assert len(by_kind["renumbered"]) == len(by_kind["invitation"]) == 4
    for m in by_kind["renumbered"]:
        method, uid, sequence = calendar_of(m)
        assert method == "CANCEL" and uid in old and sequence >= 1
        assert "行事曆項目更新" in str(m["Subject"]) and "照常舉行" in everything(m)
    for m in by_kind["invitation"]:
        method, uid, sequence = calendar_of(m)
        assert method == "REQUEST" and uid in rekeyed.values() and sequence == 0
    pairs = {(m["To"].addresses[0].addr_spec, calendar_of(m)[1]) for m in by_kind["renumbered"]}
    assert len(pairs) == 4 and {to for to, _ in pairs} == set(SCHOOLS)
    # The old UID goes only to those whose calendar holds it, inside the CANCEL: no
    # Message-ID, subject or body carries it.
    for m in mails:
        headers_and_text = "\n".join(f"{k}: {v}" for k, v in m.items())
        for part in m.walk():
            if part.get_content_maintype() == "text" and part.get_content_type() != "text/calendar":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                headers_and_text += payload.decode()
        assert not any(uid in headers_and_text for uid in old)
        assert not any(uid.split("@")[0][-12:] in headers_and_text for uid in old)
    # Each once: nothing more goes on the next run.
    assert dispatch(app, sink) == []
    with app.transaction() as s:
        left = set(
            s.execute(
                select(OutboxMessage.kind, OutboxMessage.occurrence_uid).where(
                    OutboxMessage.status != "sent"
                )
            )
        )
    # What is still to come (agenda, reminder) is about the meetings under their new UIDs.
    assert {kind for kind, _ in left} == {"agenda", "reminder"}
    assert {uid for _, uid in left} <= set(rekeyed.values())


def test_cadence_meetings_and_new_uids_are_left_alone(app: App, clock: FixedClock) -> None:
    """A database with nothing to rekey migrates to a no-op (cadence UIDs have no hash)."""
    from tests.support.cases import load_city

    load_city(app)
    with app.transaction() as s:
        before = sorted(s.scalars(select(Occurrence.uid)))
    cfg = alembic_config(app.engine)
    with app.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009")
    migrate(app.engine)
    with app.transaction() as s:
        assert sorted(s.scalars(select(Occurrence.uid))) == before
        head = ScriptDirectory.from_config(alembic_config(app.engine)).get_current_head()
        assert s.scalar(text("SELECT version_num FROM alembic_version")) == head


def test_a_cancellation_still_to_go_removes_the_entry_under_the_old_uid(
    app: App, clock: FixedClock, sink: MailSink, tmp_path: Path
) -> None:
    current = invited_and_made_old(app, clock, sink, tmp_path)
    with app.transaction() as s:
        report = ChangeReport()
        for occ in event_meetings(s):
            apply_placement(s, occ, None, clock.now(), report, reason_if_cancelled="改期另訂")
        plan_messages(s, clock.now())  # the cancellations are planned, not yet sent
        pending = set(
            s.scalars(select(OutboxMessage.kind).where(OutboxMessage.status == "pending"))
        )
    assert pending == {"cancellation"}
    make_old(app, current)
    migrate(app.engine)
    mails = dispatch(app, sink)
    assert {kind_of(m) for m in mails} == {"cancellation"} and len(mails) == 4
    assert {calendar_of(m)[:2] for m in mails} == {("CANCEL", old) for old in current.values()}
