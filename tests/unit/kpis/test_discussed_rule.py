"""One rule decides "discussed" for the agenda and BC3.1 (meetings.cases.discussed).

Hand-computed fixture (the test city of tests/support/cases.py, imported 2023-03-20):

  DV-101 家庭暴力 八德區 (南區) TIPVDA 10, reported 2023-03-01 → listed 2023-03-01
  DV-102 家庭暴力 中壢區 (南區) TIPVDA 9,  reported 2023-03-10 → listed 2023-03-10
  DV-103 家庭暴力 桃園區 (北區) TIPVDA 8,  reported 2023-03-02 → listed 2023-03-02

  2023-04-12 cp-network (another series) held: discusses DV-101
  2023-04-20 dv-zones 北區 held: discusses DV-102 (not its zone's case)
  2023-04-20 dv-zones 南區 held: discusses DV-102 and DV-103 (not its zone's case)

南區 after 04-20: DV-102 discussed (03-10 → 04-20 = 21 + 20 = 41 days); DV-101 only at
another series' meeting, so not discussed: it stays on 南區's May agenda and BC3.1 南區 is
1 of 2 = 50.0 %. 北區: DV-103 discussed only at 南區's meeting: on 北區's May agenda and
0 of 1. Total: 1 of 3 = 33.3 %, median 41.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select

from meetings.agendas.queries import load_agenda
from meetings.db import Occurrence
from meetings.kpis.queries import compute_kpis
from meetings.records.attendance import AttendanceInput, record_attendance
from meetings.records.discussions import record_case_discussions
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import taipei
from tests.support.cases import csv_text, import_text, load_city, uid

ROWS = [
    "DV-101,家庭暴力,八德區,,,10,,開案,DVPC,,2023-03-01,,,",
    "DV-102,家庭暴力,中壢區,,,9,,開案,DVPC,,2023-03-10,,,",
    "DV-103,家庭暴力,桃園區,,,8,,開案,DVPC,,2023-03-02,,,",
]
CP_APRIL = uid("cp-network", "20230412")


def _zone_meeting(app: App, key: str, month: int) -> Occurrence:
    with app.transaction() as s:
        occ = s.scalar(
            select(Occurrence).where(
                Occurrence.instance_key == key,
                Occurrence.nominal_date >= date(2023, month, 1),
                Occurrence.nominal_date <= date(2023, month, 28),
            )
        )
        assert occ is not None, (key, month)
        return occ


def _hold(app: App, u: str, cases: list[str], clock: FixedClock) -> None:
    with app.transaction() as s:
        record_attendance(s, AttendanceInput(u, "DVPC", "present"), clock.now())
        record_case_discussions(s, u, cases, clock.now())


def _agenda(app: App, occ: Occurrence, clock: FixedClock) -> list[str]:
    with app.transaction() as s:
        live = s.get(Occurrence, occ.id)
        assert live is not None
        return [c.case_no for c in load_agenda(s, live, clock.now()).cases]


def _bc31(app: App, as_of: date) -> dict[str | None, tuple[object, object]]:
    with app.transaction() as s:
        rows = compute_kpis(s, 112, series_id="dv-zones", as_of=as_of).as_json()["rows"]
    return {
        r["district"] if r["series"] else None: (
            r["listed_case_discussion_rate"],
            r["median_days_to_discussion"],
        )
        for r in rows
    }


def test_agenda_and_bc31_agree_on_what_was_discussed(
    app: App, tmp_path: Path, clock: FixedClock
) -> None:
    load_city(app)
    clock.set(taipei(2023, 3, 20, 9, 0))
    import_text(app, tmp_path, csv_text(ROWS))
    north_apr, south_apr = (
        _zone_meeting(app, "dv-zones-z1", 4),
        _zone_meeting(app, "dv-zones-z2", 4),
    )
    north_may, south_may = (
        _zone_meeting(app, "dv-zones-z1", 5),
        _zone_meeting(app, "dv-zones-z2", 5),
    )
    # A discussion at another series' meeting takes the case off no zone agenda ...
    clock.set(taipei(2023, 4, 13, 9, 0))
    _hold(app, CP_APRIL, ["DV-101"], clock)
    assert _agenda(app, south_apr, clock) == ["DV-101", "DV-102"]
    # ... and counts for no zone's BC3.1.
    assert _bc31(app, date(2023, 4, 19)) == {
        "北區": (0.0, None),
        "南區": (0.0, None),
        None: (0.0, None),
    }
    # Each zone's held meeting discusses one of its own cases and one of the other zone's.
    clock.set(taipei(2023, 4, 21, 9, 0))
    _hold(app, north_apr.uid, ["DV-102"], clock)
    _hold(app, south_apr.uid, ["DV-102", "DV-103"], clock)
    # A meeting's own discussions leave its own agenda as it was.
    assert _agenda(app, south_apr, clock) == ["DV-101", "DV-102"]
    # Its zone's later meeting: only what its zone has not discussed; BC3.1 the same.
    assert _agenda(app, south_may, clock) == ["DV-101"]
    assert _agenda(app, north_may, clock) == ["DV-103"]
    assert _bc31(app, date(2023, 4, 30)) == {
        "北區": (0.0, None),  # DV-103 of DV-103: discussed only at 南區's meeting
        "南區": (50.0, 41.0),  # DV-102 of DV-101, DV-102
        None: (33.3, 41.0),
    }
