"""What a calendar feed shows: the scope's meetings in the window, as FeedEvents, with
the validators (ETag, Last-Modified) the HTTP layer answers conditional requests with.

Scopes and tokens are the access slice's (``meetings.access.feeds``); the bytes are
``notifications.ics.build_feed``'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import ColumnElement, Row, and_, func, select
from sqlalchemy.orm import Session

from meetings.access.feeds import FeedScope
from meetings.db import Agency, Occurrence, OutboxEvent, Series
from meetings.kernel.localtime import day_span, local_today, start_of_day
from meetings.kernel.vocabulary import REVISION_KINDS, OccurrenceStatus
from meetings.schedule.units import unit_for
from notifications.ics import FeedEvent

WINDOW_BACK = relativedelta(months=6)
WINDOW_AHEAD = relativedelta(months=18)
FEED_FORMAT = "2"  # bump when the feed's rendering changes, so every ETag changes
FEED_REFRESH = timedelta(hours=1)  # REFRESH-INTERVAL / X-PUBLISHED-TTL


def feed_window(now: datetime, tz: str) -> tuple[date, date]:
    """The feed's dates: 6 months back to 18 months ahead of ``now`` (local dates)."""
    today = local_today(now, tz)
    return today - WINDOW_BACK, today + WINDOW_AHEAD


def _instant(value: Any) -> datetime | None:
    """An aggregate's datetime (SQLite returns aggregates of our UTC text as str)."""
    if value is None:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@dataclass(frozen=True)
class FeedSnapshot:
    """A feed's content (not yet rendered) and its validators.

    ``etag`` is a hash of every input of the rendering (the events, the calendar
    name, time zone, refresh interval and feed format), so it changes exactly when
    the bytes do: a move, cancellation, new meeting or a closure that affects one of
    the feed's meetings changes it; attendance, minutes, cases, other series,
    tokens and e-mail do not.
    """

    events: list[FeedEvent]
    calname: str
    tz: str
    refresh: timedelta
    etag: str
    last_modified: datetime


def feed_snapshot(session: Session, scope: FeedScope, now: datetime, base_url: str) -> FeedSnapshot:
    """The scope's events for the window around ``now``, with ETag and Last-Modified.

    Two queries: the meetings in the window, each with the time of its latest
    revision (newest of its :data:`REVISION_KINDS` events; the row's creation time
    if it has none), and the organizers of their series. Each event's
    ``last_modified`` (and so the feed's DTSTAMP/LAST-MODIFIED) is that revision
    time, capped at ``now``. A meeting that is only held keeps its version: holding
    changes nothing a calendar shows, so it changes neither the feed nor its ETag.
    """
    start, end = day_span(*feed_window(now, scope.tz), scope.tz)
    in_window = and_(
        scope.occurrence_filter(), Occurrence.start_at >= start, Occurrence.start_at < end
    )
    rows = _revised_meetings(session, in_window)
    orgs = organizers(session, {(r.series_id, r.district) for r in rows})
    base = base_url.rstrip("/")
    events = [_feed_event(r, orgs, base, now) for r in rows]
    # Last-Modified never goes back: the window slides at local midnight (a meeting
    # may drop out of it), so the start of today is a lower bound.
    day_start = start_of_day(local_today(now, scope.tz), scope.tz).astimezone(UTC)
    newest = max([e.last_modified for e in events] + [day_start])
    return FeedSnapshot(
        events, scope.calname, scope.tz, FEED_REFRESH, feed_etag(scope, events), newest
    )


def _revised_meetings(
    session: Session, in_window: ColumnElement[bool]
) -> Sequence[Row[*tuple[Any, ...]]]:
    """The meetings ``in_window``, each with ``at``: the time of its newest revision event."""
    revisions = (
        select(
            OutboxEvent.occurrence_uid.label("uid"),
            func.max(OutboxEvent.created_at).label("at"),
        )
        .where(
            OutboxEvent.kind.in_(REVISION_KINDS),
            OutboxEvent.occurrence_uid.in_(select(Occurrence.uid).where(in_window)),
        )
        .group_by(OutboxEvent.occurrence_uid)
        .subquery()
    )
    return session.execute(
        select(
            Occurrence.uid,
            Occurrence.series_id,
            Occurrence.district,
            Occurrence.sequence,
            Occurrence.start_at,
            Occurrence.end_at,
            Occurrence.title,
            Occurrence.location,
            Occurrence.status,
            Occurrence.created_at,
            revisions.c.at,
        )
        .outerjoin(revisions, revisions.c.uid == Occurrence.uid)
        .where(in_window)
        .order_by(Occurrence.start_at, Occurrence.uid)
    ).all()


def _feed_event(
    r: Row[Any],
    orgs: dict[tuple[str, str | None], tuple[str | None, str | None]],
    base: str,
    now: datetime,
) -> FeedEvent:
    """One meeting row as the feed shows it (held meetings show as scheduled ones)."""
    revised = _instant(r.at) or _instant(r.created_at) or now
    org_name, org_email = orgs.get((r.series_id, r.district), (None, None))
    cancelled = r.status == OccurrenceStatus.CANCELLED
    return FeedEvent(
        uid=r.uid,
        sequence=r.sequence,
        start=r.start_at,
        end=r.end_at,
        summary=r.title,
        location=r.location,
        status="cancelled" if cancelled else "scheduled",
        organizer_name=org_name,
        organizer_email=org_email,
        description_url=f"{base}/meetings/{r.uid}",
        last_modified=min(revised, now).astimezone(UTC),
    )


def feed_etag(scope: FeedScope, events: list[FeedEvent]) -> str:
    """A strong ETag: a hash of every input of the feed's rendering."""
    key = repr(
        (
            FEED_FORMAT,
            scope.calname,
            scope.tz,
            FEED_REFRESH.total_seconds(),
            [
                (
                    e.uid,
                    e.sequence,
                    e.start.astimezone(UTC).isoformat(),
                    e.end.astimezone(UTC).isoformat(),
                    e.summary,
                    e.location,
                    e.status,
                    e.organizer_name,
                    e.organizer_email,
                    e.description_url,
                    e.last_modified.isoformat(),
                )
                for e in events
            ],
        )
    )
    return '"' + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + '"'


def organizers(
    session: Session, keys: set[tuple[str, str | None]]
) -> dict[tuple[str, str | None], tuple[str | None, str | None]]:
    """(Series id, district) → (organizer name, its first email), from the declarations:
    at a district's meeting, the organizer's unit there (as the invitations say)."""
    out: dict[tuple[str, str | None], tuple[str | None, str | None]] = {}
    if not keys:
        return out
    rows = session.execute(
        select(Series.id, Series.city_id, Series.spec).where(
            Series.id.in_({sid for sid, _ in keys})
        )
    ).all()
    codes = {(cid, spec.get("organizer")) for _sid, cid, spec in rows if spec.get("organizer")}
    agencies: dict[tuple[int, str], Agency] = {}
    if codes:
        for agency in session.scalars(
            select(Agency).where(Agency.city_id.in_({c for c, _ in codes}))
        ):
            agencies[(agency.city_id, agency.code)] = agency
    specs = {sid: (cid, spec.get("organizer")) for sid, cid, spec in rows}
    for sid, district in keys:
        cid, code = specs.get(sid, (None, None))
        org = agencies.get((cid, code)) if cid is not None and code else None
        if org is None:
            out[(sid, district)] = (code, None)
            continue
        unit = unit_for(org, district)
        out[(sid, district)] = (unit.name, unit.emails[0] if unit.emails else None)
    return out
