"""Double-booking: which meetings put one required agency in two places at once. Pure.

A *seat* is what an agency sends to a meeting: the agency itself (``POL``), or, at a
meeting of a district where the agency has a unit, that unit (``POL@中壢區`` — the
中壢分局 sits at 中壢區's meetings, not the city police bureau). Two meetings clash
when their times overlap and they require a seat in common. Only required agencies
count: an optional one chooses which meeting to attend.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any


def seats(
    required: Iterable[str], district: str | None, units: Mapping[str, Collection[str]]
) -> frozenset[str]:
    """The seats a meeting requires; ``units`` maps an agency code to its units' districts."""
    return frozenset(
        f"{code}@{district}" if district is not None and district in units.get(code, ()) else code
        for code in required
    )


def agency_of(seat: str) -> str:
    """The agency code of a seat (``POL@中壢區`` → ``POL``)."""
    return seat.split("@", 1)[0]


@dataclass(frozen=True)
class Booking:
    """A meeting as far as double-booking goes: an identity, a time and its seats."""

    key: Any
    start_at: datetime
    end_at: datetime
    seats: frozenset[str]
    movable: bool = False  # a cadence meeting still to come whose day the cadence leaves free

    def clashes_with(self, other: Booking) -> frozenset[str]:
        """The seats both require, if their times overlap (else empty)."""
        if self.start_at < other.end_at and other.start_at < self.end_at:
            return self.seats & other.seats
        return frozenset()


class Diary:
    """Bookings indexed by (UTC day, seat), so a clash check looks only at the meetings
    that need one of the same seats that day — not at every meeting of a busy day."""

    def __init__(self, bookings: Iterable[Booking] = ()) -> None:
        self._index: dict[tuple[date, str], list[Booking]] = defaultdict(list)
        for b in bookings:
            self.add(b)

    def add(self, booking: Booking) -> None:
        for day in _days(booking.start_at, booking.end_at):
            for seat in booking.seats:
                self._index[(day, seat)].append(booking)

    def clashes(self, booking: Booking) -> Iterator[tuple[Booking, frozenset[str]]]:
        """Every other booked meeting clashing with ``booking``, once each, with the seats."""
        seen: set[int] = set()
        for day in _days(booking.start_at, booking.end_at):
            for seat in booking.seats:
                for other in self._index.get((day, seat), ()):
                    if id(other) in seen or other.key == booking.key:
                        continue
                    seen.add(id(other))
                    shared = booking.clashes_with(other)
                    if shared:
                        yield other, shared

    def is_free(self, booking: Booking) -> bool:
        return next(self.clashes(booking), None) is None


def _days(start: datetime, end: datetime) -> list[date]:
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(frozen=True)
class Conflict:
    """Two meetings requiring one seat at the same time. ``avoidable``: one could move."""

    first: Booking
    second: Booking
    seats: frozenset[str]

    @property
    def avoidable(self) -> bool:
        return self.first.movable or self.second.movable


def find_conflicts(bookings: Iterable[Booking]) -> list[Conflict]:
    """Every clashing pair, in time order (by the earlier meeting's start, then the later's)."""
    ordered = sorted(bookings, key=lambda b: (b.start_at, str(b.key)))
    diary = Diary()
    found: list[Conflict] = []
    for b in ordered:
        for other, shared in diary.clashes(b):
            found.append(Conflict(other, b, shared))
        diary.add(b)
    found.sort(key=lambda c: (c.first.start_at, c.second.start_at, str(c.first.key)))
    return found
