"""Placing a city's cadence meetings so no required agency is in two meetings at once. Pure.

Where a cadence leaves the day free (「每月召開1次」 names no day), the meeting may sit
on any working weekday of its cycle's month (of its week, for a weekly cadence); the
default day is only the first choice. A greedy placer, deterministic by construction:

- what cannot move is booked first — held and past meetings, case and ad-hoc
  meetings, and meetings whose cadence pins the day (「每月第2個星期三」);
- then, month by month, the free meetings in a fixed order of precedence (``Wish.order``,
  built by ``citywide``): the series that meets more often first (a monthly meeting
  keeps its rhythm; one held twice a year is arranged one by one anyway), then series
  that review listed cases (escalation windows and BC3.1 count from their days), then
  the one with more required agencies (the harder to move), then series id, instance
  and date. Each takes the first of its candidate days that clashes with nothing
  booked, else stays on its default day (an unavoidable clash, reported by
  ``liaison schedule conflicts``).

A meeting keeps its identity (UID from the nominal date) wherever it is placed. Greedy
was chosen over a search because it reaches zero avoidable clashes on the shipped
2023–2027 schedules, is explainable to a secretariat in one sentence, and the same
input always gives the same days, so regenerating never moves a meeting by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from meetings.schedule.conflicts import Booking, Diary, agency_of
from meetings.schedule.planning import Placement
from meetings.schedule.workdays import OfficeCalendar

REASON_LIMIT = 200  # Occurrence.moved_reason


@dataclass(frozen=True)
class Wish:
    """A cadence meeting whose day is free: where the holiday policy put it, and its cycle."""

    key: Any
    placement: Placement
    nominal: date
    start_time: time
    duration: timedelta
    seats: frozenset[str]
    weekly: bool
    order: tuple[Any, ...]  # precedence within the month: smaller first (module docstring)
    # A meeting still to come never moves into the past: candidates must start after this.
    not_before: datetime | None = None


def window_days(wish: Wish, calendar: OfficeCalendar, tz: Any) -> list[date]:
    """The days the meeting may take, best first: its default day, the later working
    weekdays of its cycle, then the earlier ones. Make-up Saturdays are never offered."""
    placed = wish.placement.start_at.astimezone(tz).date()
    if wish.weekly:
        lo = wish.nominal - timedelta(days=wish.nominal.weekday())
        hi = lo + timedelta(days=4)
    else:
        lo = wish.nominal.replace(day=1)
        hi = (lo + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    days = [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]
    free = [d for d in days if d.weekday() < 5 and calendar.is_working_day(d)]
    return [placed] + [d for d in free if d > placed] + [d for d in free if d < placed]


def _sort_key(w: Wish) -> tuple[Any, ...]:
    return (w.nominal.year, w.nominal.month, *w.order, w.nominal)


def _reason(base: str | None, shared: Iterable[str], names: Mapping[str, str]) -> str:
    agencies = sorted({agency_of(s) for s in shared})
    who = "、".join(names.get(a, a) for a in agencies)
    text = f"避開{who}同一時段的其他會議"
    full = f"{base}；{text}" if base else text
    return full if len(full) <= REASON_LIMIT else full[: REASON_LIMIT - 1] + "…"


def settle(
    wishes: Iterable[Wish],
    fixed: Iterable[Booking],
    calendar: OfficeCalendar,
    tz: Any,
    localize: Callable[[date, time, Any], datetime],
    names: Mapping[str, str],
) -> dict[Any, Placement]:
    """Where each free meeting goes, given what is already fixed (see the module docstring)."""
    diary = Diary(fixed)
    out: dict[Any, Placement] = {}
    for wish in sorted(wishes, key=_sort_key):
        first = Booking(wish.key, wish.placement.start_at, wish.placement.end_at, wish.seats)
        blockers = frozenset().union(*(shared for _, shared in diary.clashes(first)))
        chosen, placement = first, wish.placement
        if blockers:
            for day in window_days(wish, calendar, tz)[1:]:
                start = localize(day, wish.start_time, tz)
                if wish.not_before is not None and start <= wish.not_before:
                    continue
                trial = Booking(wish.key, start, start + wish.duration, wish.seats)
                if diary.is_free(trial):
                    reason = _reason(wish.placement.moved_reason, blockers, names)
                    chosen, placement = trial, Placement(trial.start_at, trial.end_at, reason)
                    break
        diary.add(chosen)
        out[wish.key] = placement
    return out
