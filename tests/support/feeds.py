"""Helpers for the feed tests: a config, a live server, and a strict ICS validator."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import icalendar
import uvicorn
from ical.calendar import Calendar as IcalCalendar
from ical.calendar_stream import IcsCalendarStream

from meetings.cases.config import load_config
from meetings.kernel.yamlsource import load_yaml
from meetings.schedule.config_build import build_config
from meetings.schedule.operations import generate_schedule
from notifications.ics import FeedEvent, build_feed
from scheduler.bootstrap import App
from scheduler.web.app import create_web_app

DOMAIN = "liaison.test.example"

CITY = """\
city: 測試市
domain: liaison.test.example
agencies:
  - {code: DVPC, name: 家防中心, emails: [dvpc@example.org]}
  - {code: POL, name: 警察局, emails: [police@example.org]}
  - {code: EDU, name: 教育局, emails: [edu@example.org]}
  - {code: HEALTH, name: 衛生局}
districts:
  - {name: 甲區, code: jia}
  - {name: 乙區, code: yi}
people:
  - {email: chen@example.org, name: 陳社工, agency: DVPC, roles: [secretariat]}
  - {email: lin@example.org, name: 林老師, agency: EDU}
  - {email: wang@example.org, name: 王護理師, agency: HEALTH}
series:
  - id: cp
    title: 兒少保護網絡會議
    organizer: DVPC
    cadence: 每月召開1次
    time: "14:00"
    location: 市府大樓8樓會議室
    invite: {required: [DVPC, POL]}
  - id: edu
    title: 學生輔導聯繫會議
    organizer: EDU
    cadence: 每季召開1次
    time: "10:00"
    invite: {required: [EDU], optional: [POL], people: [wang@example.org]}
  - id: dl
    title: "{district}區級聯繫會議"
    per_district: true
    organizer: POL
    cadence: 每季召開1次
    time: "09:30"
    holidays: skip
    invite: {required: [POL]}
"""


def load_city(app: App, text: str = CITY, start: date = date(2022, 1, 1)) -> None:
    """Load the test city and generate its meetings from ``start`` to the end of 2024."""
    cfg = build_config([load_yaml(text, "city.yaml")])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
        generate_schedule(s, start, date(2024, 12, 31), app.clock.now())


# --- strict ICS validation ----------------------------------------------------------


def check_ics(data: bytes) -> Any:
    """Parse with both icalendar and ical, and check what neither enforces.

    CRLF line endings only, no physical line over 75 octets, DTSTAMP on every
    VEVENT (and UID). Returns the icalendar parse (typed Any: icalendar's
    accessors return wide unions that tests read dynamically).
    """
    assert data.endswith(b"\r\n"), "must end with CRLF"
    lines = data.split(b"\r\n")[:-1]
    for n, line in enumerate(lines, 1):
        assert b"\n" not in line and b"\r" not in line, f"line {n}: bare LF/CR"
        assert len(line) <= 75, f"line {n}: {len(line)} octets"
        line.decode("utf-8")  # every physical line is whole UTF-8 (no split character)
    cal = icalendar.Calendar.from_ical(data)
    other: IcalCalendar = IcsCalendarStream.calendar_from_ics(data.decode("utf-8"))
    events = list(cal.walk("VEVENT"))
    assert len(other.events) == len(events)
    for ev in events:
        assert ev.get("DTSTAMP") is not None, f"{ev.get('UID')}: no DTSTAMP"
        assert ev.get("UID"), "VEVENT without UID"
    for ev2 in other.events:
        assert ev2.dtstamp is not None and ev2.uid
    return cal


def vevents(cal: Any) -> dict[str, Any]:
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def sample_event(n: int = 0, **changes: object) -> FeedEvent:
    from datetime import UTC

    start = datetime(2023, 3, 8, 6, 0, tzinfo=UTC) + timedelta(days=7 * n)
    values: dict[str, object] = {
        "uid": f"cp-{start:%Y%m%d}@{DOMAIN}",
        "sequence": 0,
        "start": start,
        "end": start + timedelta(hours=2),
        "summary": "兒少保護網絡會議",
        "location": "市府大樓8樓會議室",
        "status": "scheduled",
        "organizer_name": "家防中心",
        "organizer_email": "dvpc@example.org",
        "description_url": f"https://liaison.test.example/meetings/cp-{start:%Y%m%d}@{DOMAIN}",
        "last_modified": datetime(2023, 1, 1, 1, 0, tzinfo=UTC),
    }
    values.update(changes)
    if "start" in changes and "end" not in changes:
        values["end"] = changes["start"] + timedelta(hours=2)  # type: ignore[operator]
    return FeedEvent(**values)  # type: ignore[arg-type]


# --- a live server ------------------------------------------------------------------


@dataclass
class CountingBuilder:
    """build_feed, counting its calls (to prove 304s and cache hits build nothing)."""

    calls: int = 0
    fail: bool = False

    def __call__(
        self,
        events: Sequence[FeedEvent],
        *,
        calname: str,
        now: datetime,
        tz: str,
        refresh: timedelta,
    ) -> bytes:
        self.calls += 1
        if self.fail:
            raise RuntimeError("boom: secret internal detail")
        return build_feed(events, calname=calname, now=now, tz=tz, refresh=refresh)


class _Server(uvicorn.Server):
    """uvicorn.Server that signals when it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@dataclass
class LiveServer:
    base: str
    builder: CountingBuilder = field(default_factory=CountingBuilder)


@dataclass
class Ticker:
    """A monotonic clock the test moves by hand (the server's re-check interval)."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def live_server(
    app: App,
    builder: CountingBuilder | None = None,
    *,
    recheck: float = 0.0,
    ticker: Ticker | None = None,
) -> Iterator[LiveServer]:
    """Run the real ASGI app on uvicorn on an ephemeral loopback port.

    ``recheck=0`` (the default here): every feed request re-validates against the
    database, so a test sees each change at once.
    """
    builder = builder or CountingBuilder()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_web_app(app, builder=builder, recheck=recheck, ticker=ticker or Ticker()),
        log_level="critical",
        lifespan="off",
        server_header=False,
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(timeout=15), "server did not start within 15 s"
        yield LiveServer(f"http://127.0.0.1:{port}", builder)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        assert not thread.is_alive(), "server did not stop within 15 s"
