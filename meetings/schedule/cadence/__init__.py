"""How often a meeting recurs: parse a declaration, normalise it to an RRULE, expand it.

Pure: no database, no clock, no file I/O.

A cadence can be declared in three ways; all of them become a :class:`Cadence` whose ``rrule``
is an RFC 5545 recurrence rule (as python-dateutil reads it, without the ``RRULE:`` prefix).

1. An RRULE: ``{"rrule": "FREQ=MONTHLY;BYDAY=2WE"}``, optionally with ``"dtstart": date``
   (default: the 1st of ``anchor_month`` in 2000). Any rule dateutil accepts, except that
   meetings recur at most daily (no HOURLY/MINUTELY/SECONDLY) and a rule must occur at least
   once in the 30 years after its dtstart.
2. A friendly mapping::

       every: month | quarter | half-year | year | "N months" (N divides 12) | week | "N weeks"
       on: "3rd TU" | "last FR" | "2nd WE" | 15 (day of month, 1-28) | "last day"
           (weekly: a weekday such as "TU")
       months: [3, 7, 11]        # the months of the year it meets in
       times_per_year: 2         # 12 / times_per_year months apart

3. The Chinese phrases used in government plans, e.g. ``每月召開1次``, ``每季召開1次``,
   ``原則每4個月召開1次，得視需要召開不定期會議。``, ``每半年辦理1次``, ``每年召開2次``,
   ``3月、7月、11月``, ``每年3月、7月、11月召開``, ``每月5區各召開1次`` (5 zones, each
   monthly). Chinese numerals and full-width characters are accepted; the prefixes
   原則/原則上/預計 are ignored, a clause naming the chair (由…擔任主席, 由…主持) is ignored, and a clause
   such as 得視需要召開不定期會議 sets ``adhoc_allowed``. Anything else is an error that quotes
   the phrase: a cadence is never guessed.

A phrase that only says 不定期 (``不定期``, ``不定期召開``, ``視需要召開``, ``必要時召開``) is an
*irregular* cadence: ``irregular`` is set, ``rrule`` is "", it expands to no dates and its
cycle is the calendar month. Its series has ad-hoc meetings only (``liaison meetings add``).

Anchor month
------------
Cycles longer than a month are aligned to ``anchor_month`` (default January): every 4 months
with anchor 3 meets in March, July and November. When months are listed, the anchor is the
first listed month, and an explicit ``anchor_month`` must be one of them.

Default meeting day (user-visible)
----------------------------------
Unless the declaration pins a day (an RRULE with BYDAY, BYMONTHDAY, BYSETPOS, BYYEARDAY,
BYWEEKNO or a frequency shorter than monthly; or a friendly ``on``), the nominal date is a
weekday chosen deterministically from the instance number ``k`` (0-based: the k-th district
of a per-district series, the k-th zone of a fan-out)::

    week of the month   [2, 3, 4, 1][k % 4]
    weekday             [WE, TH, TU, FR, MO][(k // 4) % 5]

Instance 0 meets on the 2nd Wednesday, 1 on the 3rd Wednesday, 2 on the 4th Wednesday, 3 on
the 1st Wednesday, 4 on the 2nd Thursday, and so on: 20 distinct slots, so 13 districts or
5 zones never share a day. Meetings therefore fall mid-month by default. A weekly cadence
without a pinned day meets on weekday [WE, TH, TU, FR, MO][k % 5].
:func:`parse_cadence` returns instance 0; :func:`for_instance` assigns instance ``k``.

Modules: ``parse`` (the entry point) reads ``rrule``, ``friendly`` or ``phrases``, which
build (``build``) a ``model.Cadence`` from ``ruletext``; ``expand`` lists its dates, ``cycles``
finds the cycle of a date, ``describe`` words it in zh, ``wallclock`` places a wall time.
"""

from __future__ import annotations

from meetings.schedule.cadence.build import for_instance
from meetings.schedule.cadence.cycles import cycle_of
from meetings.schedule.cadence.describe import describe_zh
from meetings.schedule.cadence.expand import expand
from meetings.schedule.cadence.model import (
    SPREAD_WEEKDAYS,
    SPREAD_WEEKS,
    Cadence,
    CadenceError,
    spread_slot,
)
from meetings.schedule.cadence.parse import parse_cadence
from meetings.schedule.cadence.wallclock import localize

__all__ = [
    "Cadence",
    "CadenceError",
    "SPREAD_WEEKDAYS",
    "SPREAD_WEEKS",
    "cycle_of",
    "describe_zh",
    "expand",
    "for_instance",
    "localize",
    "parse_cadence",
    "spread_slot",
]
