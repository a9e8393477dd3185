"""Security checks, on SQLite and PostgreSQL, through the real SMTP sink and HTTP server.

- no header injection through CR/LF in series titles (emails, ICS);
- HTML/JS in case reasons and series titles escaped in HTML agendas and emails;
- template overrides confined to the config folder;
- feed tokens not enumerable: unknown, revoked and malformed answer the same 404;
- API roles enforced, no token → 401;
- no full name anywhere: database, CLI output, emails, feeds, API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from icalendar import Calendar

from meetings.access.feeds import create_feed_token, revoke_feed_token
from meetings.access.tokens import create_api_token
from meetings.cases.config import load_config
from meetings.kernel.yamlsource import SourceError, load_yaml
from meetings.schedule.closures import add_closure
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from notifications.mailsink import MailSink, SinkHandler
from notifications.outbox.dispatch import dispatch_due
from notifications.smtp import SmtpMailer, parse_smtp_url
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import Cli, taipei, write
from tests.support import cases as cases_support
from tests.support.cases import FULL_NAMES, ROWS, add_viewers, csv_text, import_text
from tests.support.configs import CONFIG
from tests.support.dbdump import dump_text
from tests.support.feeds import live_server

# The cases_support city, with addresses so that its meetings are mailed.
CASES_CITY = cases_support.CITY.replace(
    "{code: DVPC, name: 家防中心}", "{code: DVPC, name: 家防中心, emails: [dvpc@example.org]}"
).replace("{code: POL, name: 警察局}", "{code: POL, name: 警察局, emails: [pol@example.org]}")
JAN = cases_support.uid("cp-network", "20230111")
INVITED = {"dvpc@example.org", "pol@example.org"}


@dataclass
class RecordingHandler(SinkHandler):
    """The sink's handler that also keeps each message's raw bytes and envelope."""

    raw: list[bytes] = field(default_factory=list)
    envelopes: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self.raw.append(envelope.original_content or b"")
            self.envelopes.append(list(envelope.rcpt_tos))
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def sink() -> Iterator[MailSink]:
    s = MailSink()
    s.handler = RecordingHandler()
    with s:
        yield s


def handler(sink: MailSink) -> RecordingHandler:
    assert isinstance(sink.handler, RecordingHandler)
    return sink.handler


def dispatch(app: App, sink: MailSink) -> None:
    smtp = parse_smtp_url(sink.url)
    asyncio.run(
        dispatch_due(
            app.sessions, lambda: SmtpMailer(smtp), app.clock.now(), base_url="https://x.test"
        )
    )


def load(app: App, text: str, filename: str = "city.yaml") -> None:
    cfg = build_config([load_yaml(text, filename)])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
        generate_schedule(s, date(2023, 1, 1), date(2023, 6, 30), app.clock.now())


def html_parts(msg: EmailMessage) -> list[str]:
    return [p.get_content() for p in msg.walk() if p.get_content_type() == "text/html"]  # type: ignore[misc]


def calendars(msg: EmailMessage) -> list[bytes]:
    out = []
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out.append(payload)
    return out


# --- header injection ----------------------------------------------------------------------

INJECTED = r"兒少會議\r\nBcc: evil@attacker.example\r\nX-Injected: yes\nSubject: spoofed"


def test_crlf_in_a_series_title_cannot_add_headers_or_recipients(app: App, sink: MailSink) -> None:
    text = CONFIG.replace("title: 兒少保護網絡會議", f'title: "{INJECTED}"')
    try:
        load(app, text)
    except SourceError as exc:  # refusing such a title is as good as neutralising it
        assert all(e.startswith("city.yaml:") for e in exc.errors)
        return
    dispatch(app, sink)
    rec = handler(sink)
    assert rec.raw, "invitations were sent"
    for raw, rcpts, msg in zip(rec.raw, rec.envelopes, rec.messages, strict=True):
        assert set(rcpts) <= INVITED
        head = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n").split(b"\n")
        names = {line.split(b":", 1)[0].lower() for line in head if line[:1] not in b" \t"}
        assert b"bcc" not in names and b"x-injected" not in names
        assert len(msg.get_all("Subject") or []) == 1
        subject = str(msg["Subject"])
        assert "\r" not in subject and "\n" not in subject
        assert "兒少會議 Bcc: evil@attacker.example" in subject  # kept, on one line
        for ics in calendars(msg):
            cal = Calendar.from_ical(ics)
            for ev in cal.walk("VEVENT"):
                assert "BCC" not in ev and "X-INJECTED" not in ev
            for line in ics.decode().splitlines():
                assert not line.startswith(("Bcc", "X-Injected", "Subject"))


def test_crlf_in_a_series_title_stays_inside_summary_in_feeds(app: App) -> None:
    text = CONFIG.replace("title: 兒少保護網絡會議", f'title: "{INJECTED}"')
    try:
        load(app, text)
    except SourceError:
        return
    with app.transaction() as s:
        token = create_feed_token(s, "series", "cp", app.clock.now()).token
    with live_server(app) as srv:
        body = httpx.get(f"{srv.base}/feeds/{token}.ics", timeout=10).content
    for line in body.decode().splitlines():
        assert not line.startswith(("Bcc", "X-Injected", "Subject")), line
    (ev,) = [e for e in Calendar.from_ical(body).walk("VEVENT")][:1]
    assert "Bcc: evil@attacker.example" in str(ev["SUMMARY"])


# --- HTML / JS escaping ----------------------------------------------------------------------

SCRIPT = '<script>alert("x")</script>'
IMG = "<img src=x onerror=alert(1)>"
EVIL_ROW = f'CP-070,兒少保護,中壢區,,高,,家庭維繫,開案,,,2022-06-01,2022-12-01,,"{SCRIPT}"'


@pytest.fixture
def evil_city(app: App, tmp_path: Path) -> App:
    text = CASES_CITY.replace(
        "title: 兒少保護個案跨網絡合作會議", f'title: "{IMG}兒少保護個案跨網絡合作會議"'
    )
    load(app, text)
    import_text(app, tmp_path, csv_text([EVIL_ROW]))
    cases_support.add_viewers(app)
    return app


def assert_escaped(html: str, *, reason: bool) -> None:
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    if reason:
        assert "&lt;script&gt;alert(" in html


def test_html_agenda_escapes_case_reasons_and_titles(evil_city: App, cli: Cli) -> None:
    out = cli(
        "agenda",
        "show",
        JAN,
        "--format",
        "html",
        "--as",
        "chen@example.org",
        "--reason",
        "會前準備",
    )
    assert out.exit_code == 0, out.stderr
    assert_escaped(out.stdout, reason=True)


def test_emails_escape_case_reasons_and_titles(
    evil_city: App, clock: FixedClock, sink: MailSink
) -> None:
    clock.set(taipei(2023, 1, 10, 9, 0))  # invitation, agenda and reminder of Jan 11 are due
    dispatch(evil_city, sink)
    msgs = handler(sink).messages
    kinds = {str(m["Message-ID"]).split(".")[1] for m in msgs}
    assert {"invitation", "agenda"} <= kinds
    for msg in msgs:
        mid = str(msg["Message-ID"])
        for html in html_parts(msg):
            if "cp-network" in mid:
                assert_escaped(html, reason=".agenda." in mid)
            assert "<script" not in html.lower() and "<img" not in html.lower()
        assert "\n" not in str(msg["Subject"])


# --- template overrides stay in the config folder --------------------------------------------


def test_a_city_override_cannot_include_files_outside_the_folder(
    app: App, cli: Cli, tmp_path: Path
) -> None:
    folder = tmp_path / "cfg"
    cfg_file = write(folder / "city.yaml", CASES_CITY)
    write(tmp_path / "secret.txt", "LEAKED")
    write(folder / "templates" / "agenda.txt.j2", '{% include "../../secret.txt" %}\n')
    load(app, CASES_CITY, str(cfg_file))
    out = cli("agenda", "show", JAN)
    assert "LEAKED" not in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_a_city_name_cannot_point_templates_outside_the_folder(
    app: App, cli: Cli, tmp_path: Path
) -> None:
    folder = tmp_path / "cfg"
    text = CASES_CITY.replace("city: 測試市", "city: ../../outside")
    cfg_file = write(folder / "city.yaml", text)
    (folder / "templates").mkdir()
    write(tmp_path / "outside" / "agenda.txt.j2", "LEAKED {{ m.title }}\n")
    load(app, text, str(cfg_file))
    out = cli("agenda", "show", JAN)
    assert "LEAKED" not in out.stdout


# --- feed tokens are not enumerable ---------------------------------------------------------


def test_unknown_revoked_and_malformed_feed_tokens_are_indistinguishable(app: App) -> None:
    load(app, CONFIG)
    with app.transaction() as s:
        issued = create_feed_token(s, "series", "cp", app.clock.now())
        other = create_feed_token(s, "series", "cp", app.clock.now())
        revoke_feed_token(s, issued.id, app.clock.now())
    live = other.token
    probes = [
        issued.token,  # revoked
        "A" * len(live),  # unknown, well-formed
        live[:-1] + ("A" if live[-1] != "A" else "B"),  # one character off a live one
        live[:-1],  # truncated
        live.upper() if live.upper() != live else live.lower(),
        "x",
        "%00%27%22;--",
        "..%2F..%2Fetc%2Fpasswd",
        "é" * 10,
        "a" * 2000,
    ]
    with live_server(app) as srv:
        ok = httpx.get(f"{srv.base}/feeds/{live}.ics", timeout=10)
        answers = [httpx.get(f"{srv.base}/feeds/{p}.ics", timeout=10) for p in probes]
    assert ok.status_code == 200
    for probe, r in zip(probes, answers, strict=True):
        assert r.status_code == 404, probe
        assert r.content == b'{"detail":"not found"}', probe
        assert "etag" not in r.headers and "last-modified" not in r.headers
    shapes = {tuple(sorted(k for k in r.headers if k != "date")) for r in answers}
    assert len(shapes) == 1, shapes


# --- API roles -------------------------------------------------------------------------------


def test_api_roles_are_enforced(app: App, clock: FixedClock) -> None:
    load(app, CONFIG)
    with app.transaction() as s:
        add_closure(s, date(2023, 3, 8), "颱風停班（內部說明）", clock.now())
        tokens = {
            role: create_api_token(s, role, clock.now(), city="測試市").token
            for role in ("admin", "secretariat", "participant")
        }
    query = "/api/occurrences?from=2023-03-01&to=2023-03-31&series=cp"
    with live_server(app) as srv:

        def get(path: str, token: str | None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return httpx.get(srv.base + path, headers=headers, timeout=10)

        for path in ("/api/series", query):
            anonymous = get(path, None)
            assert anonymous.status_code == 401 and anonymous.json()["detail"]
            assert get(path, "not-a-token").status_code == 401
        seen = {role: get(query, token).json() for role, token in tokens.items()}
    for role in ("admin", "secretariat"):
        assert "颱風停班（內部說明）" in seen[role][0]["moved_reason"]
    assert all("moved_reason" not in o for o in seen["participant"])
    assert "內部說明" not in str(seen["participant"])
    assert seen["participant"][0]["moved"] is True


def test_case_data_needs_who_and_why(evil_city: App, cli: Cli) -> None:
    assert cli("cases", "list").exit_code == 2
    assert cli("cases", "list", "--as", "chen@example.org").exit_code == 2
    withheld = cli("agenda", "show", JAN)
    assert withheld.exit_code == 0 and "CP-070" not in withheld.stdout
    shown = cli("agenda", "show", JAN, "--as", "chen@example.org", "--reason", "會前準備")
    assert "CP-070" in shown.stdout


# --- no full names anywhere ------------------------------------------------------------------


def test_no_full_name_in_database_outputs_emails_or_feeds(
    app: App, cli: Cli, clock: FixedClock, sink: MailSink, tmp_path: Path, db_url: str
) -> None:
    load(app, CASES_CITY)
    add_viewers(app)
    csv = write(tmp_path / "cases.csv", csv_text(ROWS))
    outputs = [cli("cases", "import", str(csv), "--now", "2023-01-01T09:00")]
    bad = write(tmp_path / "bad.csv", csv_text([ROWS[0].replace("2022-10-03", "2022-13-45")]))
    outputs.append(cli("cases", "import", str(bad)))
    assert outputs[-1].exit_code == 2
    who = ["--as", "chen@example.org", "--reason", "會前準備"]
    for fmt in ("text", "html", "json"):
        outputs.append(cli("agenda", "show", JAN, "--format", fmt, *who))
    outputs.append(cli("cases", "list", *who, "--json"))
    outputs.append(cli("cases", "list", *who))
    assert all(o.exit_code == 0 for o in outputs if o is not outputs[1]), [
        o.stderr for o in outputs
    ]
    shown = "".join(o.stdout + o.stderr for o in outputs)
    assert "王○明" in shown  # the masked form is what is shown
    clock.set(taipei(2023, 1, 10, 9, 0))
    dispatch(app, sink)
    mails = [m.decode("utf-8", errors="replace") for m in handler(sink).raw]
    mails += [m.get_body(("plain",)).get_content() for m in handler(sink).messages]  # type: ignore[union-attr]
    mails += [h for m in handler(sink).messages for h in html_parts(m)]
    assert any("歐○○明" in m for m in mails), "the agenda email lists the masked names"
    with app.transaction() as s:
        tokens = [
            create_feed_token(s, kind, value, clock.now()).token
            for kind, value in (("series", "cp-network"), ("agency", "DVPC"))
        ]
        api = create_api_token(s, "admin", clock.now(), city="測試市").token
    with live_server(app) as srv:
        feeds = [httpx.get(f"{srv.base}/feeds/{t}.ics", timeout=10).text for t in tokens]
        auth = {"Authorization": f"Bearer {api}"}
        feeds.append(httpx.get(f"{srv.base}/api/occurrences?from=2023-01-01", headers=auth).text)
    app.close()
    stored = dump_text(db_url)
    assert "CP-001" in stored
    blobs = b""
    if db_url.startswith("sqlite:///"):
        db = Path(db_url.removeprefix("sqlite:///"))
        blobs = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    for name in FULL_NAMES:
        assert name not in stored, name
        assert name.encode() not in blobs and name.encode("utf-16-le") not in blobs, name
        assert name not in shown, name
        assert not any(name in m for m in mails), name
        assert not any(name in f for f in feeds), name
