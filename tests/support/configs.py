"""The one city-config builder for tests: a small valid city, varied by keyword."""

from __future__ import annotations

BASE = """\
city: 測試市
domain: liaison.test.example
agencies:
  - {code: DVPC, name: 家防中心, emails: [dvpc@example.org]}
  - {code: POL, name: 警察局}
districts:
  - {name: 甲區, code: jia}
  - {name: 乙區, code: yi}
series:
  - id: cp
    title: 兒少保護網絡會議
    organizer: DVPC
    cadence: 每月召開1次
    time: "14:00"
    invite: {required: [DVPC, POL]}
"""

# BASE with an address for every agency, so every invitation can be mailed.
CONFIG = BASE.replace(
    "{code: POL, name: 警察局}", "{code: POL, name: 警察局, emails: [pol@example.org]}"
)


def city_config(
    *,
    timezone: str | None = None,
    cadence: str | None = None,
    time: str | None = None,
    people: str = "",
    mailable: bool = True,
) -> str:
    """A city YAML: BASE (or CONFIG when ``mailable``), with a declared time zone, another
    cadence or meeting time, and extra ``people:`` lines (already indented list items)."""
    text = CONFIG if mailable else BASE
    if timezone is not None:
        text = text.replace(
            "domain: liaison.test.example\n",
            f"domain: liaison.test.example\ntimezone: {timezone}\n",
            1,
        )
    if cadence is not None:
        text = text.replace("cadence: 每月召開1次", f"cadence: {cadence}", 1)
    if time is not None:
        text = text.replace('time: "14:00"', f'time: "{time}"', 1)
    if people:
        text = text.replace("series:\n", "people:\n" + people + "series:\n", 1)
    return text
