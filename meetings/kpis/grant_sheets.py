"""The grant report as an xlsx in the layout the grant criteria ask for (seed 003), and as
JSON.

Sheet 辦理成效: one row per kind of meeting (個案研討, 團體督導, 外部督導, 教育訓練, 家庭會談,
網絡會議) with 辦理場次, 時數, 參與人數, 個案研討次數 and 討論案數, then 合計. Sheet 場次明細:
every held meeting with its ROC date and the same counts, and where hours or participants
were not recorded, what stood in for them. Counts only: no case data.
"""

from __future__ import annotations

import io
from typing import Any

from meetings.kernel.cells import append_row
from meetings.kernel.rocdate import format_roc_date
from meetings.kernel.vocabulary import SERIES_KIND_ZH
from meetings.kpis.grants import GrantReport, HeldSession, KindTotals

SUMMARY_HEADER = ["項目", "辦理場次", "時數", "參與人數", "個案研討次數", "討論案數"]
DETAIL_HEADER = ["日期", "類別", "會議", "時數", "參與人數", "個案研討次數", "備註"]


def summary_table(report: GrantReport) -> list[list[Any]]:
    def line(label: str, t: KindTotals) -> list[Any]:
        return [label, t.sessions, t.hours, t.participants, t.discussions, len(t.cases)]

    body = [line(SERIES_KIND_ZH[t.kind], t) for t in report.rows if t.kind is not None]
    return [*body, line("合計", report.total)]


def _note(s: HeldSession) -> str:
    notes = []
    if not s.hours_recorded:
        notes.append("時數依排定時間")
    if not s.participants_recorded:
        notes.append("人數依簽到機關")
    return "；".join(notes)


def detail_table(report: GrantReport) -> list[list[Any]]:
    return [
        [
            format_roc_date(s.held_on),
            SERIES_KIND_ZH[s.kind],
            s.title,
            s.hours,
            s.participants,
            s.discussions,
            _note(s),
        ]
        for s in report.sessions
    ]


def grant_title(report: GrantReport) -> str:
    return f"{report.city}民國{report.roc_year}年度 專業督導、教育訓練、家庭會談及個案研討辦理成效"


def grant_xlsx_bytes(report: GrantReport) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    sheets = [
        ("辦理成效", SUMMARY_HEADER, summary_table(report)),
        ("場次明細", DETAIL_HEADER, detail_table(report)),
    ]
    for i, (name, header, body) in enumerate(sheets):
        ws = wb.active if i == 0 else wb.create_sheet()
        assert ws is not None
        ws.title = name
        append_row(ws, [grant_title(report)])
        ws["A1"].font = Font(bold=True, size=14)
        append_row(
            ws, [f"統計期間：{report.roc_year}年1月1日至{report.roc_year}年12月31日（已召開者）"]
        )
        append_row(ws, header)
        for cell in ws[3]:
            cell.font = Font(bold=True)
        for line in body:
            append_row(ws, line)  # titles come from a city's config: formulas stay text
        ws.column_dimensions["A"].width = 18 if i == 0 else 22
        if i == 1:
            ws.column_dimensions["C"].width = 40
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def grant_json(report: GrantReport) -> dict[str, Any]:
    return {
        "city": report.city,
        "year": report.roc_year,
        "rows": [t.as_dict() for t in report.rows],
        "total": report.total.as_dict(),
        "sessions": [
            {
                "held_on": s.held_on.isoformat(),
                "kind": str(s.kind),
                "title": s.title,
                "hours": s.hours,
                "hours_recorded": s.hours_recorded,
                "participants": s.participants,
                "participants_recorded": s.participants_recorded,
                "case_discussions": s.discussions,
            }
            for s in report.sessions
        ],
    }
