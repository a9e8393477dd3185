"""When a listed case counts as discussed: one rule for the agenda, BC3.1 and escalation.

**The rule.** A listing of a case (listed on day L) is discussed *for a series instance*
(a series, or one district or zone of it) once a **held** meeting of that instance
recorded a discussion of the case on a day on or after L. The day of a discussion is
the day its meeting was held (its nominal date when no day was recorded).

- The agenda of a meeting (section 四) leaves out the listings discussed for its own
  instance; its own discussions do not take cases off its own agenda.
- BC3.1 (``listed_case_discussion_rate``) counts, for each instance, its listed cases
  discussed for it (no later than ``--as-of``); the median days run to the first such
  discussion.
- Escalation is quiet for a listing discussed for the instance that now covers the
  case's district, in any series whose agenda lists under the rule.

**Why this one.** SPEC §7 counts a case for BC3.1 when it was discussed "at a held
meeting of that series"; BC3.1 (符合列管指標案件納入定期會議討論) asks whether a listed
case reached the regular meeting that tracks the listing. A discussion at another
series' meeting (an event meeting, another network's) is not that meeting: the case
stays on the agenda and counts as not yet discussed, so agenda and report agree. A
zone or district meeting is its own network of people: a case that moves to another
zone is that zone's to discuss. A meeting not recorded as held has discussed nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    Date,
    Exists,
    Integer,
    Select,
    String,
    and_,
    column,
    exists,
    func,
    select,
    values,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from meetings.db import CaseDiscussion, HeldMeeting, Occurrence
from meetings.kernel.vocabulary import OccurrenceStatus

CHUNK = 200  # listings per look-up in discussed_listings (4 bound parameters each)


def discussion_day() -> ColumnElement[Any]:
    """The day a discussion took place: the day its meeting was held (else its nominal date).

    Needs ``Occurrence`` joined and ``HeldMeeting`` outer-joined (:func:`with_meetings`).
    """
    return func.coalesce(HeldMeeting.held_on, Occurrence.nominal_date)


def with_meetings(q: Select[Any]) -> Select[Any]:
    """``q`` (over ``CaseDiscussion``) with each discussion's meeting and held record."""
    return q.join(Occurrence, Occurrence.uid == CaseDiscussion.occurrence_uid).outerjoin(
        HeldMeeting, HeldMeeting.occurrence_id == Occurrence.id
    )


def counts_as_discussion(case_no: Any, listed_on: Any, instance_key: Any) -> ColumnElement[bool]:
    """The rule, for a discussion row (see :func:`with_meetings`): it is of ``case_no``,
    at a held meeting of ``instance_key``, on or after ``listed_on``.

    The arguments are values or SQL columns (a correlated listing, a VALUES table).
    """
    return and_(
        CaseDiscussion.case_no == case_no,
        Occurrence.instance_key == instance_key,
        Occurrence.status == OccurrenceStatus.HELD,
        discussion_day() >= listed_on,
    )


def discussed(
    case_no: Any, listed_on: Any, instance_key: Any, *, besides: str | None = None
) -> Exists:
    """EXISTS: the listing is discussed for ``instance_key`` (leaving out the meeting
    ``besides``: a meeting's own discussions do not take cases off its agenda)."""
    q = with_meetings(select(CaseDiscussion.id)).where(
        counts_as_discussion(case_no, listed_on, instance_key)
    )
    if besides is not None:
        q = q.where(CaseDiscussion.occurrence_uid != besides)
    return exists(q)


def discussed_listings(
    session: Session, listings: Sequence[tuple[int, str, date, str]]
) -> set[int]:
    """Of ``(listing id, case_no, listed_on, instance key)``, the ids discussed for that key."""
    out: set[int] = set()
    for i in range(0, len(listings), CHUNK):
        # A CTE, not a FROM (VALUES …) AS t (cols): SQLite cannot name VALUES columns.
        chunk = (
            values(
                column("id", Integer),
                column("case_no", String),
                column("listed_on", Date),
                column("k", String),
                name="wanted",
            )
            .data(list(listings[i : i + CHUNK]))
            .cte("wanted")
        )
        out.update(
            session.scalars(
                select(chunk.c.id).where(discussed(chunk.c.case_no, chunk.c.listed_on, chunk.c.k))
            )
        )
    return out
