"""Which cycle of a cadence a date falls in (a meeting is held once per cycle)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from meetings.schedule.cadence.expand import dateutil_rule
from meetings.schedule.cadence.model import Cadence
from meetings.schedule.cadence.ruletext import month_index, month_start


def _listed_cycle(months: tuple[int, ...], nominal: date) -> tuple[date, date]:
    """From the 1st of the listed month at or before ``nominal`` to the next listed month."""
    y, m = nominal.year, nominal.month
    earlier = [x for x in months if x <= m]
    start_mi = y * 12 + earlier[-1] - 1 if earlier else (y - 1) * 12 + months[-1] - 1
    sy, sm0 = divmod(start_mi, 12)
    later = [x for x in months if x > sm0 + 1]
    next_mi = sy * 12 + later[0] - 1 if later else (sy + 1) * 12 + months[0] - 1
    return month_start(start_mi), month_start(next_mi) - timedelta(days=1)


def _rule_cycle(cadence: Cadence, nominal: date) -> tuple[date, date]:
    """From the month of the occurrence at or before ``nominal``'s month to the next one."""
    rule = dateutil_rule(cadence.rrule, cadence.dtstart)
    mi = month_index(nominal)
    next_month = datetime.combine(month_start(mi + 1), time())
    prev: Any = rule.before(next_month, inc=False)
    if prev is None:
        block_start = date.min
        following: Any = rule.after(datetime.combine(nominal, time()), inc=True)
    else:
        block_start = month_start(month_index(prev.date()))
        following = rule.after(
            datetime.combine(month_start(month_index(prev.date()) + 1), time()), inc=True
        )
    if following is None:
        return block_start, date.max
    return block_start, month_start(month_index(following.date())) - timedelta(days=1)


def cycle_of(cadence: Cadence, nominal: date) -> tuple[date, date]:
    """The cycle (first day, last day) that contains ``nominal``.

    Regular monthly-or-longer cadences: blocks of ``period_months`` months aligned to the
    anchor month (every 4 months, anchor 3: Mar-Jun, Jul-Oct, Nov-Feb). Listed irregular
    months: from the 1st of a listed month to the day before the 1st of the next listed month.
    Weekly and daily: blocks of ``period_days`` days aligned to ``dtstart``. Other rules: from
    the 1st of the month of one occurrence to the day before the month of the next.
    Irregular (不定期): the calendar month of the meeting, as for a series without a cadence.
    """
    if isinstance(nominal, datetime):
        nominal = nominal.date()
    if cadence.irregular:
        mi = month_index(nominal)
        return month_start(mi), month_start(mi + 1) - timedelta(days=1)
    if cadence.period_days is not None:
        step = cadence.period_days
        offset = (nominal - cadence.dtstart).days // step * step
        first = cadence.dtstart + timedelta(days=offset)
        return first, first + timedelta(days=step - 1)
    if cadence.period_months is not None:
        mi = month_index(nominal)
        p = cadence.period_months
        start_mi = mi - (mi - (cadence.anchor_month - 1)) % p
        return month_start(start_mi), month_start(start_mi + p) - timedelta(days=1)
    if cadence.months is not None:
        return _listed_cycle(cadence.months, nominal)
    return _rule_cycle(cadence, nominal)
