"""A meeting's wall-clock time on its day, as an instant in the city's zone (DST-safe)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo


def localize(d: date, t: time, tz: ZoneInfo) -> datetime:
    """The aware datetime of wall time ``t`` on ``d`` in ``tz``.

    A wall time that does not exist (the clocks jump forward over it) is moved forward by the
    length of the gap (02:30 on a spring-forward night → 03:30); an ambiguous one (the clocks
    fall back over it) is the first of the two (fold=0)."""
    if t.tzinfo is not None:
        raise ValueError("localize takes a naive wall-clock time")
    naive = datetime.combine(d, t.replace(fold=0))
    aware = naive.replace(tzinfo=tz)
    # fold=0 in a gap uses the offset from before the transition; the UTC round trip then
    # lands on the wall time after the gap.
    normal = aware.astimezone(UTC).astimezone(tz)
    if normal.replace(tzinfo=None) != naive:
        return normal.replace(fold=0)
    return aware
