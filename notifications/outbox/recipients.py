"""Who a meeting's mail goes to: its invitees (as their district's units) and the
secretariat that keeps its records; and the one deterministic Message-ID of a message."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.db import Agency, Person, Series
from meetings.kernel.vocabulary import Role
from meetings.schedule.declarations import SeriesDecl
from meetings.schedule.units import unit_for


def message_id_for(kind: str, key: str, sequence: int, recipient: str, domain: str) -> str:
    """Deterministic per (kind, occurrence UID or event key, sequence, recipient)."""
    digest = hashlib.sha256(f"{key}|{recipient.lower()}".encode()).hexdigest()[:24]
    return f"<liaison.{kind}.{sequence}.{digest}@{domain}>"


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    role: str  # REQ-PARTICIPANT | OPT-PARTICIPANT | NON-PARTICIPANT
    agency: str | None = None  # the invited agency (its seat's reply link), None for people


def recipients_for(
    session: Session, series: Series, district: str | None = None
) -> list[Recipient]:
    """Required and optional agencies' addresses and the invited people, deduplicated.

    At a meeting of ``district`` an agency with a unit there is invited as that unit
    (its name and addresses, ``unit_for``); otherwise as the agency."""
    decl = SeriesDecl.model_validate(series.spec)
    agencies = {
        a.code: a for a in session.scalars(select(Agency).where(Agency.city_id == series.city_id))
    }
    seen: set[str] = set()
    out: list[Recipient] = []

    def add(email: str, name: str, role: str, agency: str | None = None) -> None:
        key = email.lower()
        if key not in seen:
            seen.add(key)
            out.append(Recipient(email, name, role, agency))

    for codes, role in (
        (decl.invite.required, "REQ-PARTICIPANT"),
        (decl.invite.optional, "OPT-PARTICIPANT"),
        (decl.invite.observers or [], "OPT-PARTICIPANT"),
    ):
        for code in codes:
            agency = agencies.get(code)
            if agency is None or not agency.active:
                continue
            unit = unit_for(agency, district)
            for email in unit.emails:
                add(email, unit.name, role, code)
    if decl.invite.people:
        people = {
            p.email.lower(): p
            for p in session.scalars(select(Person).where(Person.city_id == series.city_id))
        }
        for email in decl.invite.people:
            person = people.get(email.lower())
            add(email, person.name if person else email, "REQ-PARTICIPANT")
    return out


def secretariat_for(
    session: Session, city_id: int, series: Series | None = None, district: str | None = None
) -> list[Recipient]:
    """Who keeps a series' records: the agency its ``secretariat`` names (e.g. 各區公所 for
    the district meetings; at a meeting of ``district``, its unit there, 中壢區公所), else
    the people with the secretariat role in the city."""
    code = (series.spec or {}).get("secretariat") if series is not None else None
    if code:
        agency = session.scalar(
            select(Agency).where(Agency.city_id == city_id, Agency.code == code)
        )
        unit = unit_for(agency, district) if agency is not None and agency.active else None
        if unit is not None and unit.emails:
            return [Recipient(e, unit.name, "NON-PARTICIPANT") for e in unit.emails]
    rows = session.scalars(select(Person).where(Person.city_id == city_id)).all()
    return [
        Recipient(p.email, p.name, "NON-PARTICIPANT") for p in rows if Role.SECRETARIAT in p.roles
    ]
