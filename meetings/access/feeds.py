"""Feed tokens (the writer of ``feed_tokens``) and the scopes they resolve to.

A feed token shows the meetings of one person, agency, series or district of a city,
as of now (people and invitations are looked up when the feed is read). Tokens are
made and kept as every token is (``meetings.access.tokens``).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, false, func, select
from sqlalchemy.orm import Session

from meetings.access.principals import AccessError
from meetings.access.tokens import (
    IssuedToken,
    clean_label,
    hash_token,
    new_token,
    revoke,
    well_formed,
)
from meetings.db import (
    Agency,
    City,
    District,
    FeedToken,
    Occurrence,
    OutboxEvent,
    Person,
    Series,
)
from meetings.kernel.localtime import DEFAULT_TIMEZONE


class ScopeKind(StrEnum):
    """What a feed token shows (stored in ``feed_tokens.scope_kind``)."""

    PERSON = "person"
    AGENCY = "agency"
    SERIES = "series"
    DISTRICT = "district"


# --- scopes ----------------------------------------------------------------------


@dataclass(frozen=True)
class FeedScope:
    """What a feed token shows. ``series_ids`` None means "filter by district"."""

    token_id: int
    kind: ScopeKind
    value: str
    city_id: int | None
    city_name: str
    tz: str
    calname: str
    series_ids: tuple[str, ...] | None
    district: str | None = None

    def occurrence_filter(self) -> ColumnElement[bool]:
        """The WHERE clause selecting this scope's occurrences."""
        if self.series_ids is not None:
            if not self.series_ids:
                return false()
            return Occurrence.series_id.in_(self.series_ids)
        assert self.district is not None
        return and_(
            Occurrence.district == self.district,
            Occurrence.series_id.in_(select(Series.id).where(Series.city_id == self.city_id)),
        )


def _invites(spec: dict[str, Any], agency: str | None, email: str | None) -> bool:
    invite = spec.get("invite") or {}
    if agency is not None and (
        spec.get("organizer") == agency
        or agency in (invite.get("required") or [])
        or agency in (invite.get("optional") or [])
    ):
        return True
    if email is not None:
        return email.lower() in {p.lower() for p in invite.get("people") or []}
    return False


def _series_for(session: Session, city_id: int, agency: str | None, email: str | None) -> list[str]:
    rows = session.execute(
        select(Series.id, Series.spec).where(Series.city_id == city_id).order_by(Series.id)
    ).all()
    return [sid for sid, spec in rows if _invites(spec, agency, email)]


def invited_series(session: Session, city_id: int, email: str) -> list[str]:
    """The city's series a person is invited to, as their feed (scope ``person``) shows
    them: organised by or inviting the agency of the person with ``email`` (any case),
    or naming the email in ``invite.people``."""
    person = session.scalar(
        select(Person).where(
            Person.city_id == city_id, func.lower(Person.email) == email.strip().lower()
        )
    )
    agency = person.agency_code if person is not None else None
    return _series_for(session, city_id, agency, email)


def _agency_name(session: Session, city_id: int, code: str) -> str:
    name = session.scalar(select(Agency.name).where(Agency.city_id == city_id, Agency.code == code))
    return name or code


def _calname(city: str, title: str) -> str:
    title = title.replace("{district}", "各").replace("{zone}", "各")
    return title if title.startswith(city) else f"{city} {title}"


def _series_scope(session: Session, token: FeedToken, city: City | None) -> FeedScope:
    value = token.scope_value
    series = session.get(Series, value)
    if series is not None and token.city_id is not None and series.city_id != token.city_id:
        series = None  # resolved only within the token's city: never another city's series
    if series is None:
        # The series was removed from the database: an empty calendar, not an error.
        tz = city.timezone if city is not None else DEFAULT_TIMEZONE
        return FeedScope(token.id, ScopeKind.SERIES, value, None, "", tz, value, ())
    return FeedScope(
        token.id,
        ScopeKind.SERIES,
        value,
        series.city_id,
        series.city.name,
        series.city.timezone,
        _calname(series.city.name, series.title),
        (series.id,),
    )


def _city_scope(
    token: FeedToken,
    city: City,
    kind: ScopeKind,
    calname: str,
    series_ids: tuple[str, ...] | None,
    district: str | None = None,
) -> FeedScope:
    return FeedScope(
        token.id,
        kind,
        token.scope_value,
        city.id,
        city.name,
        city.timezone,
        calname,
        series_ids,
        district=district,
    )


def scope_of(session: Session, token: FeedToken) -> FeedScope:
    """Resolve a stored token to its current scope (people and invitations as of now)."""
    kind, value = token.scope_kind, token.scope_value
    city = session.get(City, token.city_id) if token.city_id is not None else None
    if kind == ScopeKind.SERIES:
        return _series_scope(session, token, city)
    assert city is not None, f"feed token {token.id} has no city"
    if kind == ScopeKind.DISTRICT:
        calname = f"{city.name} {value} 會議"
        return _city_scope(token, city, ScopeKind.DISTRICT, calname, None, district=value)
    if kind == ScopeKind.AGENCY:
        ids = _series_for(session, city.id, value, None)
        calname = f"{city.name} {_agency_name(session, city.id, value)} 會議"
        return _city_scope(token, city, ScopeKind.AGENCY, calname, tuple(ids))
    person = session.scalar(select(Person).where(Person.city_id == city.id, Person.email == value))
    agency = person.agency_code if person is not None else None
    ids = _series_for(session, city.id, agency, value)
    who = person.name if person is not None else value
    return _city_scope(token, city, ScopeKind.PERSON, f"{city.name} {who} 的會議", tuple(ids))


def resolve_feed(session: Session, token: str) -> FeedScope | None:
    """The scope of a live feed token, or None (unknown, revoked or malformed alike)."""
    if not well_formed(token):
        return None
    digest = hash_token(token)
    row = session.scalar(
        select(FeedToken).where(FeedToken.token_hash == digest, FeedToken.revoked_at.is_(None))
    )
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return scope_of(session, row)


# Built once: constructing this statement costs more than running it.
_VERSION_QUERY = select(
    FeedToken.token_hash,
    select(func.max(Occurrence.updated_at)).scalar_subquery(),
    select(func.max(Occurrence.id)).scalar_subquery(),
    select(func.max(OutboxEvent.id)).scalar_subquery(),
    select(func.max(Series.updated_at)).scalar_subquery(),
    select(func.max(City.updated_at)).scalar_subquery(),
).where(FeedToken.token_hash == bindparam("digest"), FeedToken.revoked_at.is_(None))


def data_version(session: Session | Connection, token: str) -> tuple[Any, ...] | None:
    """One cheap query: None if the token is not live, else a database-wide version.

    The version changes whenever any meeting, series, city or agency list may
    have changed: newest ``updated_at`` and highest id of occurrences, highest
    outbox event id (every meeting change writes one, even within one clock
    tick), newest series and city ``updated_at`` — indexed or tiny tables. While it stays the
    same, a feed's fingerprint cannot have changed, so the server may reuse it.
    """
    if not well_formed(token):
        return None
    digest = hash_token(token)
    row = session.execute(_VERSION_QUERY, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row[0], digest):
        return None
    return tuple(row[1:])


def occurrences_for_scope(
    session: Session, scope: FeedScope, start: datetime, end: datetime
) -> list[Occurrence]:
    """The scope's occurrences starting in [start, end), by start time."""
    q = (
        select(Occurrence)
        .where(scope.occurrence_filter(), Occurrence.start_at >= start, Occurrence.start_at < end)
        .order_by(Occurrence.start_at, Occurrence.uid)
    )
    return list(session.scalars(q))


# --- writers ---------------------------------------------------------------------


def _city(session: Session, name: str | None) -> City | None:
    if name is None:
        return None
    city = session.scalar(select(City).where(City.name == name))
    if city is None:
        names = ", ".join(session.scalars(select(City.name).order_by(City.name)))
        raise AccessError(f"unknown city {name!r}" + (f" (loaded: {names})" if names else ""))
    return city


def _one_city(kind: str, value: str, city_ids: list[int], city: City | None) -> int:
    if city is not None:
        if city.id not in city_ids:
            raise AccessError(f"unknown {kind} {value!r} in {city.name}")
        return city.id
    if not city_ids:
        raise AccessError(f"unknown {kind} {value!r}")
    if len(set(city_ids)) > 1:
        raise AccessError(f"{kind} {value!r} exists in several cities: give --city")
    return city_ids[0]


def _person_scope(session: Session, value: str, city: City | None) -> tuple[str, int]:
    """A person's address as stored (any case matches) and their city."""
    value = value.lower()
    ids = list(session.scalars(select(Person.city_id).where(func.lower(Person.email) == value)))
    cid = _one_city("person", value, ids, city)
    email = session.scalar(
        select(Person.email).where(Person.city_id == cid, func.lower(Person.email) == value)
    )
    assert email is not None
    return email, cid


def check_scope(
    session: Session, kind: str, value: str, city_name: str | None = None
) -> tuple[ScopeKind, str, int | None]:
    """Validate a scope request; returns (kind, canonical value, city id)."""
    try:
        scope = ScopeKind(kind)
    except ValueError:
        raise AccessError(f"unknown scope {kind!r} (one of {', '.join(ScopeKind)})") from None
    value = value.strip()
    if not value:
        raise AccessError(f"--{kind}: empty value")
    city = _city(session, city_name)
    if scope == ScopeKind.SERIES:
        series = session.get(Series, value)
        if series is None:
            raise AccessError(f"unknown series {value!r}")
        if city is not None and series.city_id != city.id:
            raise AccessError(f"series {value!r} belongs to {series.city.name}, not {city.name}")
        return scope, value, series.city_id
    if scope == ScopeKind.PERSON:
        return scope, *_person_scope(session, value, city)
    if scope == ScopeKind.AGENCY:
        ids = list(session.scalars(select(Agency.city_id).where(Agency.code == value)))
        return scope, value, _one_city("agency", value, ids, city)
    ids = list(session.scalars(select(District.city_id).where(District.name == value)))
    return scope, value, _one_city("district", value, ids, city)


def create_feed_token(
    session: Session,
    kind: str,
    value: str,
    now: datetime,
    *,
    city: str | None = None,
    label: str | None = None,
) -> IssuedToken:
    """Create a feed token for a validated scope."""
    scope_kind, scope_value, city_id = check_scope(session, kind, value, city)
    token = new_token()
    row = FeedToken(
        token_hash=hash_token(token),
        scope_kind=scope_kind,
        scope_value=scope_value,
        city_id=city_id,
        label=clean_label(label),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return IssuedToken(row.id, token)


def feed_token_id(session: Session, ref: str) -> int:
    """The id of the feed token ``ref`` names: what `feeds list` prints (``#3`` or ``3``),
    or the leaked URL (https or webcal) or token itself, found by its hash."""
    text = ref.strip()
    number = text.removeprefix("#")
    if number.isdigit() and len(number) <= 18:
        return int(number)
    token = text.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].removesuffix(".ics")
    row_id = None
    if well_formed(token):
        row_id = session.scalar(
            select(FeedToken.id).where(FeedToken.token_hash == hash_token(token))
        )
    if row_id is None:
        raise AccessError(
            "ID: no feed token matches (give #ID or ID as `feeds list` prints, the feed URL "
            "or the token)"
        )
    return row_id


def revoke_feed_token(session: Session, token_id: int, now: datetime) -> bool:
    """Revoke a feed token; False if it was already revoked."""
    return revoke(session, FeedToken, token_id, now)


def list_feed_tokens(session: Session) -> list[dict[str, Any]]:
    """Every feed token, without secrets."""
    cities = {cid: name for cid, name in session.execute(select(City.id, City.name))}
    return [
        {
            "id": t.id,
            "scope": t.scope_kind,
            "value": t.scope_value,
            "city": cities.get(t.city_id) if t.city_id is not None else None,
            "label": t.label,
            "created_at": t.created_at.isoformat(),
            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
        }
        for t in session.scalars(select(FeedToken).order_by(FeedToken.id))
    ]


# --- URLs --------------------------------------------------------------------------


def feed_urls(base_url: str, token: str) -> tuple[str, str]:
    """(URL on ``base_url`` as configured, the same as ``webcal://``) of a feed token."""
    url = f"{base_url.rstrip('/')}/feeds/{token}.ics"
    scheme, _, rest = url.partition("://")
    return url, (f"webcal://{rest}" if scheme in ("http", "https") else url)


def demo_feed_urls(session: Session, base_url: str, now: datetime) -> list[tuple[str, str]]:
    """Create demo feed tokens (each city's organizer agencies, one series) → (label, URL)."""
    out: list[tuple[str, str]] = []
    cities = list(session.scalars(select(City).order_by(City.id)))
    first_series: str | None = None
    for city in cities:
        specs = session.execute(
            select(Series.id, Series.spec)
            .where(Series.city_id == city.id, Series.active.is_(True))
            .order_by(Series.id)
        ).all()
        if first_series is None and specs:
            first_series = specs[0][0]
        codes = sorted({spec["organizer"] for _sid, spec in specs if spec.get("organizer")})
        for code in codes[:2]:
            issued = create_feed_token(
                session, ScopeKind.AGENCY, code, now, city=city.name, label="demo"
            )
            name = _agency_name(session, city.id, code)
            out.append((f"{city.name} {name}", feed_urls(base_url, issued.token)[0]))
    if first_series is not None:
        issued = create_feed_token(session, ScopeKind.SERIES, first_series, now, label="demo")
        out.append((f"series {first_series}", feed_urls(base_url, issued.token)[0]))
    return out
