"""Which cycle a meeting belongs to, and how far a held date may stray from it.

Used by records (a meeting is held once per cycle) and by KPIs (a cycle with no held
meeting is a missed one), so it lives below both.
"""

from __future__ import annotations

from datetime import date, timedelta

from meetings.schedule.cadence import Cadence, cycle_of

# How far from its scheduled day a meeting may be recorded as held. The KPI report
# relies on this bound to search discussions by date.
HELD_AT_MAX_SHIFT = timedelta(days=366)


def meeting_cycle(cadence: Cadence | None, nominal: date) -> tuple[date, date]:
    """The cycle of a meeting: its cadence's cycle, or its calendar month without one."""
    if cadence is not None:
        return cycle_of(cadence, nominal)
    first = nominal.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt - timedelta(days=1)
