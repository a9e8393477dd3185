"""Agendas: pure building, the per-meeting query, freezing, rendering and templates."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from meetings.agendas.freeze import freeze_agenda
from meetings.agendas.model import (
    ListedCase,
    MeetingInfo,
    agenda_from_json,
    agenda_to_json,
    build_agenda,
)
from meetings.agendas.queries import load_agenda
from meetings.agendas.render import render_agenda
from meetings.cases.config import load_config
from meetings.db import AgendaCase, Occurrence
from meetings.kernel.rocdate import zh_num
from meetings.kernel.yamlsource import load_yaml
from meetings.records.discussions import record_discussions
from meetings.records.held import mark_held
from meetings.schedule.config_build import build_config
from notifications.agenda_mail import agenda_for_email
from scheduler.bootstrap import App
from scheduler.clock import FixedClock
from tests.conftest import TAIPEI, Cli, taipei, write
from tests.support.cases import CITY, add_viewers, csv_text, import_text, load_city, uid
from tests.support.snapshots import assert_snapshot

JAN = uid("cp-network", "20230111")
FEB = uid("cp-network", "20230208")


def info() -> MeetingInfo:
    start = datetime(2023, 3, 8, 14, 0, tzinfo=TAIPEI)
    return MeetingInfo(
        uid="x@y", series_id="x", title="會議", city="測試市", start=start,
        end=start, location=None, chair=None, organizer=None, status="scheduled", sequence=0,
    )  # fmt: skip


def listed(no: str, day: date) -> ListedCase:
    return ListedCase(no, "王○明", "中壢區", "高", None, None, day, "規則")


def case_nos(app: App, u: str, now: datetime) -> list[tuple[str, bool]]:
    with app.transaction() as s:
        occ = s.scalar(select(Occurrence).where(Occurrence.uid == u))
        assert occ is not None
        return [(c.case_no, c.carried_over) for c in load_agenda(s, occ, now).cases]


def test_build_agenda_orders_limits_and_marks_carried_over() -> None:
    got = build_agenda(
        info(),
        listed=[
            listed("B", date(2023, 2, 1)),
            listed("A", date(2023, 2, 1)),
            listed("C", date(2023, 1, 5)),
            listed("D", date(2023, 3, 1)),
        ],
        max_cases=3,
        previous_meeting_day=date(2023, 2, 8),
    )
    assert [(c.position, c.case_no, c.carried_over) for c in got.cases] == [
        (1, "C", True),
        (2, "A", True),
        (3, "B", True),
    ]
    assert got.deferred == 1
    assert got.cases[0].risk == "SDM高" and got.cases[0].rule_title == "規則"
    assert got.cases[0].reason == ""  # no listing reason: the rule's title only
    # A truncated query result still tells how many wait for the next meeting.
    short = build_agenda(
        info(), listed=[listed("C", date(2023, 1, 5))], listed_total=40, max_cases=1
    )
    assert (len(short.cases), short.deferred, short.cases[0].carried_over) == (1, 39, False)
    assert agenda_from_json(agenda_to_json(got)) == got
    assert [zh_num(n) for n in (1, 10, 12, 20, 21)] == ["一", "十", "十二", "二十", "二十一"]


def test_agenda_query_oldest_first_carry_over_and_discussion(
    app: App, tmp_path: Path, clock: FixedClock
) -> None:
    load_city(app)
    import_text(app, tmp_path, csv_text())
    now = clock.now()
    # max_cases 2: CP-002 (listed 15 Nov), CP-001 (20 Dec); CP-003 (28 Dec) waits.
    assert case_nos(app, JAN, now) == [("CP-002", False), ("CP-001", False)]
    assert case_nos(app, FEB, now) == [("CP-002", True), ("CP-001", True)]
    clock.set(taipei(2023, 1, 12, 9, 0))
    with app.transaction() as s:
        record_discussions(s, JAN, ["CP-002", "CP-001"], clock.now())
    # A meeting not recorded as held has discussed nothing (meetings.cases.discussed).
    assert case_nos(app, FEB, clock.now()) == [("CP-002", True), ("CP-001", True)]
    with app.transaction() as s:
        jan = s.scalar(select(Occurrence).where(Occurrence.uid == JAN))
        assert jan is not None
        mark_held(s, jan, clock.now())
    assert case_nos(app, FEB, clock.now()) == [("CP-003", True)]
    # Zoned DV meetings take the cases of their zone's districts only.
    north = uid("dv-zones-z1", "20230119")
    south = [o for o in _series(app, "dv-zones-z2") if o.nominal_date.month == 1][0].uid
    assert case_nos(app, north, clock.now()) == [("DV-001", False)]
    assert case_nos(app, south, clock.now()) == [("DV-002", False)]


def _series(app: App, key: str) -> list[Occurrence]:
    with app.transaction() as s:
        return list(
            s.scalars(
                select(Occurrence)
                .where(Occurrence.instance_key == key)
                .order_by(Occurrence.nominal_date)
            )
        )


def test_frozen_agenda_keeps_its_cases_and_later_listings_go_to_the_next_meeting(
    app: App, tmp_path: Path, clock: FixedClock
) -> None:
    load_city(app)
    import_text(app, tmp_path, csv_text())
    clock.set(taipei(2023, 1, 4, 9, 0))
    with app.transaction() as s:
        frozen = freeze_agenda(s, JAN, clock.now())
        again = freeze_agenda(s, JAN, taipei(2023, 1, 5))
    assert [c.case_no for c in frozen.cases] == ["CP-002", "CP-001"]
    assert again.frozen_at == frozen.frozen_at == clock.now()
    # A case re-reported after the freeze with an older listing date than CP-001.
    clock.set(taipei(2023, 1, 5, 9, 0))
    row = "CP-060,兒少保護,中壢區,,高,,家庭維繫,開案,,,2022-06-01,2022-12-01,,"
    import_text(app, tmp_path, csv_text([row]), name="late.csv")
    assert case_nos(app, JAN, clock.now()) == [("CP-002", False), ("CP-001", False)]
    # February: the cases reserved by January's frozen agenda are left to it.
    assert case_nos(app, FEB, clock.now()) == [("CP-060", True), ("CP-003", True)]
    with app.transaction() as s:
        rows = s.scalars(
            select(AgendaCase.case_no)
            .where(AgendaCase.occurrence_uid == JAN)
            .order_by(AgendaCase.position)
        ).all()
    assert list(rows) == ["CP-002", "CP-001"]


def test_agenda_email_freezes_the_agenda(app: App, tmp_path: Path, clock: FixedClock) -> None:
    load_city(app)
    import_text(app, tmp_path, csv_text())
    with app.transaction() as s:
        occ = s.scalar(select(Occurrence).where(Occurrence.uid == JAN))
        assert occ is not None
        out = agenda_for_email(s, occ, clock.now())
        assert out is not None
        text, html = out
        assert s.scalar(select(AgendaCase.case_no).where(AgendaCase.occurrence_uid == JAN))
    assert "CP-002　歐○○明　中壢區　SDM高" in text
    assert html.startswith('<section class="agenda">') and "<html" not in html


def test_rendered_text_snapshot(app: App, cli: Cli, tmp_path: Path) -> None:
    load_city(app)
    import_text(app, tmp_path, csv_text())
    args = ["--as", "chen@example.org", "--reason", "會前準備", "--now", "2023-01-04T09:00"]
    assert cli("agenda", "freeze", FEB, "--now", "2023-01-04T09:00").exit_code == 0
    result = cli("agenda", "show", FEB, *args)
    assert result.exit_code == 0, result.stderr
    assert_snapshot("agenda_cp_network_20230208.txt", result.stdout)


def test_html_is_printable_and_escapes_case_text(app: App, cli: Cli, tmp_path: Path) -> None:
    load_city(app)
    row = "CP-070,兒少保護,中壢區,,高,,家庭維繫,開案,,,2022-06-01,2022-12-01,,<script>alert(1)</script>"
    import_text(app, tmp_path, csv_text([row]))
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
    assert out.exit_code == 0
    assert "<script>" not in out.stdout
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out.stdout
    assert "@page { size: A4" in out.stdout and "開會通知單" in out.stdout
    assert "112年1月11日（星期三）下午2時" in out.stdout
    data = json.loads(cli("agenda", "show", JAN, "--format", "json").stdout)
    assert data["cases"] == [] and data["cases_withheld"] is True
    assert [s["title"] for s in data["sections"]] == [
        "主席致詞", "上次會議決議事項追蹤", "工作報告", "列管個案討論", "提案討論", "臨時動議",
    ]  # fmt: skip
    assert data["report_slots"] == [
        {"agency": "DVPC", "name": "家防中心"},
        {"agency": "POL", "name": "警察局"},
    ]
    assert cli("agenda", "show", JAN, "--format", "pdf").exit_code == 2
    assert cli("agenda", "show", "nope@x").exit_code == 2


def test_city_templates_override_and_stay_confined(app: App, cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    cfg_file = write(folder / "city.yaml", CITY)
    write(folder / "templates" / "測試市" / "agenda.txt.j2", "CUSTOM {{ m.title }}\n")
    outside = write(tmp_path / "secret" / "agenda.html.j2", "LEAKED")
    (folder / "templates" / "agenda.html.j2").symlink_to(outside)
    cfg = build_config([load_yaml(CITY, str(cfg_file))])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
    assert cli("schedule", "generate", "--from", "2023-01-01", "--to", "2023-01-31").exit_code == 0
    text = cli("agenda", "show", JAN)
    assert text.stdout == "CUSTOM 兒少保護個案跨網絡合作會議\n"
    html = cli("agenda", "show", JAN, "--format", "html")
    assert "LEAKED" not in html.stdout and "開會通知單" in html.stdout


def test_render_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        render_agenda(build_agenda(info(), listed=[]), "pdf")


def test_section_two_lists_open_action_items_of_earlier_meetings(
    app: App, cli: Cli, tmp_path: Path
) -> None:
    load_city(app)
    import_text(app, tmp_path, csv_text())
    after_jan = "2023-01-12T09:00"
    assert cli("agenda", "show", FEB, "--format", "json").exit_code == 0
    empty = json.loads(cli("agenda", "show", FEB, "--format", "json", "--now", after_jan).stdout)
    assert empty["action_items"] == []
    # January is held and decides two things; one is closed before February.
    held = cli("attendance", "record", JAN, "--agency", "DVPC", "--status", "present",
               "--now", after_jan)  # fmt: skip
    assert held.exit_code == 0, held.stderr
    ids = []
    for text, owner, due in (
        ("召開親職教育協調", "POL", "2023-02-01"),
        ("安排就學", "DVPC", "2023-01-20"),
    ):
        out = cli("actions", "add", JAN, text, "--owner", owner, "--due", due, "--json",
                  "--now", after_jan)  # fmt: skip
        assert out.exit_code == 0, out.stderr
        ids.append(json.loads(out.stdout)["id"])
    shown = cli("agenda", "show", FEB, "--now", after_jan)
    assert "（一）安排就學（家防中心；期限：112年1月20日（星期五））" in shown.stdout
    assert "（二）召開親職教育協調（警察局；期限：112年2月1日（星期三））" in shown.stdout
    closed = cli("actions", "close", str(ids[1]), "--now", "2023-01-19T09:00")
    assert closed.exit_code == 0, closed.stderr
    data = json.loads(cli("agenda", "show", FEB, "--format", "json").stdout)
    assert [a["text"] for a in data["action_items"]] == ["召開親職教育協調"]
    assert data["action_items"][0]["owner"] == "警察局"
    # January's own agenda does not track its own decisions; March tracks them too.
    jan = json.loads(cli("agenda", "show", JAN, "--format", "json").stdout)
    assert jan["action_items"] == []
    # Frozen with February's agenda; an item added later goes to the next meeting.
    assert cli("agenda", "freeze", FEB, "--now", "2023-02-01T09:00").exit_code == 0
    more = cli("actions", "add", JAN, "補充資料", "--owner", "POL", "--due", "2023-03-01",
               "--now", "2023-02-02T09:00")  # fmt: skip
    assert more.exit_code == 0, more.stderr
    feb = json.loads(cli("agenda", "show", FEB, "--format", "json").stdout)
    assert [a["text"] for a in feb["action_items"]] == ["召開親職教育協調"]
    mar = json.loads(
        cli("agenda", "show", uid("cp-network", "20230308"), "--format", "json").stdout
    )
    assert [a["text"] for a in mar["action_items"]] == ["召開親職教育協調", "補充資料"]


def test_agenda_html_snapshot(app: App, cli: Cli, tmp_path: Path) -> None:
    load_city(app)
    import_text(app, tmp_path, csv_text())
    assert cli("agenda", "freeze", FEB, "--now", "2023-01-04T09:00").exit_code == 0
    result = cli(
        "agenda",
        "show",
        FEB,
        "--format",
        "html",
        "--as",
        "chen@example.org",
        "--reason",
        "會前準備",
    )
    assert result.exit_code == 0, result.stderr
    assert_snapshot("agenda_cp_network_20230208.html", result.stdout)
    for field in ("發文日期</th><td>112年1月4日（星期三）", "密等及解密條件</th><td>密",
                  "開會時間</th><td>112年2月8日（星期三）下午2時", "（第1版）"):  # fmt: skip
        assert field in result.stdout


@pytest.mark.parametrize(
    "include",
    ["../secret.j2", "../../secret/agenda.html.j2", "{secret}", "/{secret}"],
)
def test_city_template_includes_cannot_leave_the_folder(
    app: App, cli: Cli, tmp_path: Path, include: str
) -> None:
    from meetings.db import AuditRecord

    folder = tmp_path / "cfg"
    cfg_file = write(folder / "city.yaml", CITY)
    secret = write(tmp_path / "secret" / "agenda.html.j2", "LEAKED")
    write(folder / "secret.j2", "LEAKED")
    name = include.format(secret=secret)
    write(folder / "templates" / "agenda.txt.j2", '{% include "' + name + '" %}\n')
    cfg = build_config([load_yaml(CITY, str(cfg_file))])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
    add_viewers(app)
    assert cli("schedule", "generate", "--from", "2023-01-01", "--to", "2023-01-31").exit_code == 0
    out = cli("agenda", "show", JAN, "--as", "chen@example.org", "--reason", "會前準備")
    assert out.exit_code == 2
    assert "LEAKED" not in out.stdout + out.stderr
    assert out.stderr.startswith("agenda.txt.j2: template: ")
    assert "not found in the city's template folder" in out.stderr
    with app.transaction() as s:  # nothing was shown, so nothing was audited
        assert s.scalar(select(AuditRecord.id)) is None


def test_broken_city_template_is_reported_with_its_line(app: App, cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    cfg_file = write(folder / "city.yaml", CITY)
    tpl = write(folder / "templates" / "agenda.txt.j2", "line one\n{% if %}\n")
    cfg = build_config([load_yaml(CITY, str(cfg_file))])
    with app.transaction() as s:
        load_config(s, cfg, app.clock.now())
    assert cli("schedule", "generate", "--from", "2023-01-01", "--to", "2023-01-31").exit_code == 0
    out = cli("agenda", "show", JAN)
    assert out.exit_code == 2
    assert out.stderr.startswith(f"{tpl.resolve()}:2: template: ")


def test_a_case_that_moves_district_moves_to_the_other_zone(
    app: App, tmp_path: Path, clock: FixedClock
) -> None:
    load_city(app)
    row = "DV-009,家庭暴力,桃園區,,,10,,開案,DVPC,,2022-12-28,,,"
    import_text(app, tmp_path, csv_text([row]))
    north = uid("dv-zones-z1", "20230119")
    south = [o for o in _series(app, "dv-zones-z2") if o.nominal_date.month == 1][0].uid
    assert case_nos(app, north, clock.now()) == [("DV-009", False)]
    assert case_nos(app, south, clock.now()) == []
    clock.set(taipei(2023, 1, 5, 9, 0))
    import_text(app, tmp_path, csv_text([row.replace("桃園區", "八德區")]))
    assert case_nos(app, north, clock.now()) == []
    assert case_nos(app, south, clock.now()) == [("DV-009", False)]


def test_frozen_time_is_shown_in_the_city_zone() -> None:
    """A city in a DST zone: the freezing instant reads in its wall time, not Taipei's."""
    ny = ZoneInfo("America/New_York")
    start = datetime(2023, 7, 12, 14, 0, tzinfo=ny)
    meeting = replace(info(), start=start, end=start, timezone="America/New_York")
    frozen = datetime(2023, 7, 5, 13, 0, tzinfo=ZoneInfo("UTC"))  # 09:00 EDT, 21:00 Taipei
    agenda = replace(build_agenda(meeting, listed=[]), frozen_at=frozen)
    text = render_agenda(agenda, "text")
    assert "本議程已於 112年7月5日（星期三）上午9時 定稿" in text
    html = render_agenda(agenda, "html")
    assert "112年7月5日（星期三）上午9時" in html


# --- free text in agendas and their mail (issue 12) ----------------------------------------

LEAK = "案母林美麗（身分證A223456789，0912-345-678）住桃園市中壢區中正路100號3樓"


def test_agenda_carries_the_rule_title_and_a_screened_capped_reason() -> None:
    reason = "王小明" + LEAK + "，另案母多次未到，" + "說明" * 40
    case = replace(listed("A", date(2023, 2, 1)), listed_reason=reason)
    agenda = build_agenda(info(), listed=[case], rule_title="規則")
    row = agenda.cases[0]
    assert row.rule_title == "規則"
    assert len(row.reason) <= 60 and row.reason.endswith("…")
    for fmt in ("text", "html", "json"):
        out = render_agenda(agenda, fmt)
        assert "規則" in out, fmt
        for secret in (
            "王小明",
            "林美麗",
            "A223456789",
            "0912-345-678",
            "中正路100號",
            "說明" * 40,
        ):
            assert secret not in out, (fmt, secret)


def test_frozen_agendas_from_before_screening_are_screened_as_rendered() -> None:
    agenda = build_agenda(info(), listed=[listed("A", date(2023, 2, 1))], rule_title="規則")
    stored = agenda_to_json(agenda)
    # As frozen by an earlier version: no rule_title per row, the raw reason as written.
    del stored["cases"][0]["rule_title"]
    stored["cases"][0]["reason"] = LEAK
    stored["action_items"] = [
        {"id": 1, "owner": "社會局", "text": "聯絡案母0912345678", "due_on": "2023-03-01"}
    ]
    old = agenda_from_json(stored)
    assert old.cases[0].rule_title == "規則"
    for fmt in ("text", "html", "json"):
        out = render_agenda(old, fmt)
        assert "〔已遮蔽〕" in out
        for secret in ("林美麗", "A223456789", "0912-345-678", "0912345678", "中正路"):
            assert secret not in out, (fmt, secret)
