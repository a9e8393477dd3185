"""Local time in a city's zone: the one place instants become local days and back.

Instants are stored in UTC; every local date or wall time is computed in the zone the
city declares (``City.timezone``, SPEC §1 ``timezone:``). ``DEFAULT_TIMEZONE`` is used
only for a city that declares none.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Taipei"


@lru_cache(maxsize=64)
def zone(name: str | None) -> ZoneInfo:
    """The ZoneInfo for a city's declared zone (the default when it declares none)."""
    return ZoneInfo(name or DEFAULT_TIMEZONE)


def local(instant: datetime, tz: str | None) -> datetime:
    """An aware instant as wall time in ``tz``; a naive one is taken to be in ``tz``."""
    if instant.tzinfo is None:
        return instant.replace(tzinfo=zone(tz))
    return instant.astimezone(zone(tz))


def local_today(now: datetime, tz: str | None) -> date:
    """The calendar day ``now`` falls on in ``tz``."""
    return local(now, tz).date()


def start_of_day(day: date, tz: str | None) -> datetime:
    """The instant local midnight begins ``day`` in ``tz`` (aware)."""
    return datetime.combine(day, time(0), zone(tz))


def day_span(first: date, last: date, tz: str | None) -> tuple[datetime, datetime]:
    """[midnight starting ``first``, midnight after ``last``) in ``tz``: a half-open window."""
    return start_of_day(first, tz), start_of_day(last + timedelta(days=1), tz)
