"""What a city's YAML files declare (the file schema), and the values they resolve to.

The pydantic ``*Decl`` models check one file's shape; :class:`SeriesSpec`, :class:`CityConfig`
and :class:`Config` are the resolved values. ``config_build.build_config`` turns parsed
documents into a Config; ``spec_from_decl`` rebuilds one stored series. No file I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from meetings.kernel.emails import normalise_email
from meetings.kernel.errors import control_character, shorten
from meetings.kernel.localtime import DEFAULT_TIMEZONE, zone
from meetings.kernel.vocabulary import Role, SeriesKind
from meetings.schedule.cadence import Cadence, for_instance, parse_cadence
from meetings.schedule.conditions import Condition, RuleNode, StrictModel
from meetings.schedule.spans import parse_duration, parse_span, parse_time_of_day
from meetings.schedule.targets import Targets, TargetSpec
from meetings.schedule.workdays import HolidayPolicy

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


def _check_email(value: str) -> str:
    """The address as written, if valid; the error says why not (email-validator)."""
    normalise_email(value)
    return value


Email = Annotated[str, BeforeValidator(lambda v: _check_email(str(v).strip()))]


def _one_line(value: str) -> str:
    """Names, titles and addresses end up in mail headers, ICS lines and page titles,
    where CR/LF splits a header and other controls corrupt or hide text."""
    found = control_character(value)
    if found is not None:
        raise ValueError(
            f"control character {found} in '{shorten(value)}' "
            "(names, titles and addresses must be one line of text)"
        )
    return value


# A name, title, code or address: one line, no control characters.
Line = Annotated[str, AfterValidator(_one_line)]


_Strict = StrictModel  # every declaration refuses unknown keys and is frozen


class UnitDecl(_Strict):
    """An agency's unit in one district (中壢分局): invited to that district's meetings
    instead of the agency (``meetings.schedule.units``)."""

    name: Line
    emails: list[Email] = Field(min_length=1)


class AgencyDecl(_Strict):
    code: Line
    name: Line
    kind: Line | None = None
    emails: list[Email] = Field(default_factory=list)
    # District name -> its unit; the districts are checked once the city is merged.
    units: dict[Line, UnitDecl] = Field(default_factory=dict)

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not CODE.match(v):
            raise ValueError(f"agency code '{shorten(v)}' must be letters, digits, - or _ (max 32)")
        return v


class DistrictDecl(_Strict):
    name: Line
    code: Line | None = None

    @field_validator("code")
    @classmethod
    def _code(cls, v: str | None) -> str | None:
        if v is not None and not SLUG.match(v):
            raise ValueError(
                f"district code '{shorten(v)}' must be lower-case letters, digits or -"
            )
        return v


def _district(v: object) -> object:
    return {"name": v} if isinstance(v, str) else v


def _default_roles() -> list[Role]:
    return [Role.PARTICIPANT]


class PersonDecl(_Strict):
    email: Email
    name: Line
    agency: Line | None = None
    roles: list[Role] = Field(default_factory=_default_roles)
    # The 組 a person works in (兒少組, 行政組): TL3.1 counts look-ups per team.
    team: Annotated[Line, Field(min_length=1, max_length=50)] | None = None


class InviteDecl(_Strict):
    required: list[Line] = Field(default_factory=list)
    optional: list[Line] = Field(default_factory=list)
    people: list[Email] = Field(default_factory=list)
    # Agencies invited to sit in (列席) rather than as members (出席); None rather than []
    # so a series without any keeps its stored spec (and hash) as it was.
    observers: list[Line] | None = None


class AgendaDecl(_Strict):
    listing_rule: str | None = None
    carry_over: bool = True
    max_cases: int = Field(default=15, ge=1, le=500)
    # Zoned series: which districts' cases each zone's meeting discusses.
    zone_districts: dict[Line, list[Line]] | None = None


class ReminderDecl(_Strict):
    before: str
    kind: Literal["invitation", "agenda", "reminder"]

    @field_validator("before")
    @classmethod
    def _before(cls, v: str) -> str:
        span = parse_span(v)
        if span.amount < 0:
            raise ValueError("'before' is a positive span, e.g. 7d")
        return v


class DeliverableDecl(_Strict):
    """What a held meeting owes afterwards, tracked like its minutes: e.g. the
    成效檢核表 to 教育局 within 7 days (``{name: 成效檢核表, due: 7d, to: EDU}``)."""

    name: Line
    due: str  # a span after the day the meeting was held (7d, 5wd)
    to: Line  # the agency it goes to (checked against 'agencies' by config_build)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip() or len(v) > 100:
            raise ValueError("a deliverable's name is 1 to 100 characters")
        return v.strip()

    @field_validator("due")
    @classmethod
    def _due(cls, v: object) -> str:
        if parse_span(v).amount <= 0:
            raise ValueError("'due' is a positive span after the meeting, e.g. 7d")
        return str(v)


class RepeatDecl(_Strict):
    every: str
    max_span: str | None = None
    until: Literal["closed"] = "closed"

    @field_validator("every", "max_span")
    @classmethod
    def _span(cls, v: str | None) -> str | None:
        if v is not None:
            parse_span(v)
        return v


class TriggerDecl(_Strict):
    event: Literal[
        "rereported",
        "order_issued",
        "order_expiry",
        "deviant_behaviour_report",
        "needs_assessment_held",
        "closed",
    ]
    offset: str | None = None
    within: str | None = None
    repeat: RepeatDecl | None = None
    # Only cases whose data meet this (the listing-rule language) get the meeting, e.g.
    # {field: order_type, in: [監護處分, 保護管束]}: tested when the event happens.
    when: RuleNode | Condition | None = None

    @field_validator("offset", "within")
    @classmethod
    def _span(cls, v: str | None) -> str | None:
        if v is not None:
            parse_span(v)
        return v

    @model_validator(mode="after")
    def _one(self) -> TriggerDecl:
        if (self.offset is None) == (self.within is None):
            raise ValueError(
                "a trigger needs exactly one of 'offset' (e.g. -2mo) or 'within' (e.g. 5wd)"
            )
        if self.within is not None and parse_span(self.within).amount < 0:
            raise ValueError("'within' must be positive, e.g. 5wd")
        return self


class SeriesDecl(_Strict):
    id: str
    title: Line
    organizer: Line | None = None
    chair: Line | None = None
    secretariat: Line | None = None
    # None (not network) so a series without one keeps its stored spec (and hash).
    kind: SeriesKind | None = None
    cadence: str | dict[str, Any] | None = None
    anchor_month: int | None = Field(default=None, ge=1, le=12)
    trigger: TriggerDecl | None = None
    time: str = "14:00"
    duration: str = "2h"
    location: Line | None = None
    invite: InviteDecl = Field(default_factory=InviteDecl)
    holidays: HolidayPolicy = HolidayPolicy.NEXT_WORKING_DAY
    agenda: AgendaDecl = Field(default_factory=AgendaDecl)
    reminders: list[ReminderDecl] | None = None
    minutes_due: str = "7d"
    # When the secretariat's readiness check goes (None: DEFAULT_READINESS; None rather
    # than the default so a series without one keeps its stored spec and hash).
    readiness: str | None = None
    # The least notice the invitation must give (Taipei: 3 days); None: DEFAULT_NOTICE_MIN.
    notice_min: str | None = None
    # Who chairs when the chair cannot come (the readiness check asks for one).
    substitute_chair: Line | None = None
    # None rather than []: a series without any keeps its stored spec (and hash) as it was.
    deliverables: list[DeliverableDecl] | None = None
    # This series' own goals (its rows, and its report), beside the city's; None rather
    # than {} so a series without any keeps its stored spec (and hash) as it was.
    targets: Targets | None = None
    per_district: bool = False
    districts: list[Line] | None = None
    zones: list[Line] | None = None
    start: date | None = None
    until: date | None = None
    adhoc: bool = True
    notes: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not SLUG.match(v):
            raise ValueError(
                f"series id '{shorten(v)}' must be lower-case letters, digits or - (max 63)"
            )
        return v

    @field_validator("time")
    @classmethod
    def _time(cls, v: object) -> str:
        parse_time_of_day(v)
        return str(v).strip()

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: object) -> str:
        parse_duration(v)
        return str(v)

    @field_validator("minutes_due")
    @classmethod
    def _minutes_due(cls, v: object) -> str:
        parse_span(v)
        return str(v)

    @field_validator("readiness")
    @classmethod
    def _readiness(cls, v: object) -> str | None:
        if v is None:
            return None
        if parse_span(v).amount <= 0:
            raise ValueError("'readiness' must be positive, e.g. 3wd")
        return str(v)

    @field_validator("notice_min")
    @classmethod
    def _notice_min(cls, v: object) -> str | None:
        if v is None:
            return None
        if parse_span(v).amount <= 0:
            raise ValueError("'notice_min' must be positive, e.g. 3d")
        return str(v)

    @model_validator(mode="after")
    def _shape(self) -> SeriesDecl:
        if self.trigger is None and self.cadence is None:
            raise ValueError("a series needs a 'cadence' or a 'trigger'")
        if self.trigger is not None and self.cadence is not None:
            raise ValueError("a series has either a 'cadence' or a 'trigger', not both")
        if self.per_district and self.zones:
            raise ValueError("a series is either per_district or per zone, not both")
        if self.start and self.until and self.until < self.start:
            raise ValueError("'until' is before 'start'")
        extra = set(self.agenda.zone_districts or {}) - set(self.zones or [])
        if extra:
            raise ValueError(f"agenda.zone_districts names zones not in 'zones': {sorted(extra)}")
        names = [d.name for d in self.deliverables or ()]
        if len(set(names)) != len(names):
            raise ValueError("deliverables: each name may be listed once")
        return self


class ListingRuleDecl(_Strict):
    id: Line
    title: Line
    window: str | None = None
    all: list[RuleNode | Condition] | None = None
    any: list[RuleNode | Condition] | None = None
    not_: RuleNode | Condition | None = Field(default=None, alias="not")

    @field_validator("window")
    @classmethod
    def _window(cls, v: str | None) -> str | None:
        if v is not None:
            parse_span(v)
        return v

    @model_validator(mode="after")
    def _one(self) -> ListingRuleDecl:
        if sum(x is not None for x in (self.all, self.any, self.not_)) != 1:
            raise ValueError("a listing rule needs exactly one of all, any, not")
        return self


class ClosureDecl(_Strict):
    date: date
    reason: Line


class FileDecl(_Strict):
    """One YAML file. Several files may declare the same city; they are merged."""

    city: Line
    timezone: str | None = None
    domain: str | None = None
    agencies: list[AgencyDecl] = Field(default_factory=list)
    districts: list[Annotated[DistrictDecl, BeforeValidator(_district)]] = Field(
        default_factory=list
    )
    people: list[PersonDecl] = Field(default_factory=list)
    series: list[SeriesDecl] = Field(default_factory=list)
    listing_rules: list[ListingRuleDecl] = Field(default_factory=list)
    closures: list[ClosureDecl] = Field(default_factory=list)
    # KPI key -> goal, or {ROC year: goal} (``meetings.schedule.targets``).
    targets: Targets = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                zone(v)
            except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long
                raise ValueError(
                    f"unknown time zone '{shorten(v)}' (e.g. {DEFAULT_TIMEZONE})"
                ) from None
        return v

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[A-Za-z0-9.-]+$", v):
            raise ValueError(
                f"domain '{shorten(v)}' must be a DNS name such as liaison.taoyuan.example"
            )
        return v


# --- resolved values -------------------------------------------------------


@dataclass(frozen=True)
class SeriesInstance:
    """One concrete calendar of a series: the whole series, a district or a zone."""

    key: str  # used in UIDs: series id, or series id + '-' + district/zone code
    district: str | None
    zone: str | None
    title: str
    cadence: Cadence | None


@dataclass(frozen=True)
class SeriesSpec:
    """A validated, resolved series declaration."""

    id: str
    city: str
    decl: SeriesDecl
    cadence: Cadence | None
    instances: tuple[SeriesInstance, ...]
    start_time: time
    duration: timedelta
    policy: HolidayPolicy

    @property
    def title(self) -> str:
        return self.decl.title

    @property
    def is_triggered(self) -> bool:
        return self.decl.trigger is not None

    def instance(self, key: str) -> SeriesInstance:
        for inst in self.instances:
            if inst.key == key:
                return inst
        raise KeyError(key)

    def instance_for_district(self, district: str | None) -> SeriesInstance:
        for inst in self.instances:
            if district is None or inst.district == district or inst.zone == district:
                return inst
        raise KeyError(district)


@dataclass
class CityConfig:
    """Everything declared for one city, merged over its files."""

    name: str
    timezone: str
    domain: str
    agencies: dict[str, AgencyDecl] = field(default_factory=dict)
    districts: dict[str, DistrictDecl] = field(default_factory=dict)
    people: dict[str, PersonDecl] = field(default_factory=dict)
    series: dict[str, SeriesSpec] = field(default_factory=dict)
    listing_rules: dict[str, ListingRuleDecl] = field(default_factory=dict)
    closures: dict[date, str] = field(default_factory=dict)
    targets: dict[str, TargetSpec] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


@dataclass
class Config:
    cities: dict[str, CityConfig]

    def all_series(self) -> Iterable[SeriesSpec]:
        for city in self.cities.values():
            yield from city.series.values()


def _district_instances(
    decl: SeriesDecl, cadence: Cadence | None, city: CityConfig, problems: list[str]
) -> list[SeriesInstance]:
    """One instance per district (per_district: true), in declaration order."""
    names = decl.districts if decl.districts is not None else list(city.districts)
    if not names:
        problems.append("per_district: true but the city declares no districts")
        return []
    out: list[SeriesInstance] = []
    for i, name in enumerate(names):
        d = city.districts.get(name)
        if d is None:
            problems.append(f"district {name!r} is not declared in 'districts'")
            continue
        code = d.code or name
        out.append(
            SeriesInstance(
                key=f"{decl.id}-{code}",
                district=name,
                zone=None,
                title=decl.title.replace("{district}", name),
                cadence=for_instance(cadence, i) if cadence else None,
            )
        )
    return out


def _fan_out_problem(zones: list[str] | None, cadence: Cadence | None) -> str | None:
    """Why a cadence such as 每月5區各召開1次 does not fit the series' zones, if it does not."""
    if cadence is None or cadence.fan_out is None:
        return None
    if not zones:
        return (
            f"cadence {cadence.source!r} fans out over {cadence.fan_out} zones: "
            f"declare them with zones: [..] on the series"
        )
    if len(zones) != cadence.fan_out:
        return (
            f"cadence {cadence.source!r} names {cadence.fan_out} zones "
            f"but the series declares {len(zones)}"
        )
    return None


def _zone_instances(
    decl: SeriesDecl, zones: list[str], cadence: Cadence | None, problems: list[str]
) -> list[SeriesInstance]:
    if len(set(zones)) != len(zones):
        problems.append("zones are listed twice")
    return [
        SeriesInstance(
            key=f"{decl.id}-z{i + 1}",
            district=None,
            zone=name,
            title=decl.title.replace("{zone}", name).replace("{district}", name),
            cadence=for_instance(cadence, i) if cadence else None,
        )
        for i, name in enumerate(zones)
    ]


def series_instances(
    decl: SeriesDecl, cadence: Cadence | None, city: CityConfig
) -> tuple[list[SeriesInstance], list[str]]:
    """Fan a series out over districts or zones. Returns (instances, problems)."""
    problems: list[str] = []
    if cadence is not None and cadence.irregular and not decl.adhoc:
        problems.append(
            f"cadence {cadence.source!r} is 不定期: it has no calendar meetings, only ad-hoc "
            f"ones, so it cannot be adhoc: false"
        )
    if decl.per_district:
        return _district_instances(decl, cadence, city, problems), problems
    if decl.districts is not None:
        problems.append("'districts' on a series needs per_district: true")
    fan_out = _fan_out_problem(decl.zones, cadence)
    if fan_out is not None:
        problems.append(fan_out)
        return [], problems
    if decl.zones:
        return _zone_instances(decl, decl.zones, cadence, problems), problems
    if "{district}" in decl.title or "{zone}" in decl.title:
        problems.append("title uses {district}/{zone} but the series is not per_district or zoned")
    return [SeriesInstance(decl.id, None, None, decl.title, cadence)], problems


def spec_from_decl(city: CityConfig, decl: SeriesDecl) -> SeriesSpec:
    """Rebuild a SeriesSpec from a stored declaration (already validated once)."""
    cadence = parse_cadence(decl.cadence, anchor_month=decl.anchor_month) if decl.cadence else None
    instances, problems = series_instances(decl, cadence, city)
    if problems:
        raise ValueError("; ".join(problems))
    return assemble_spec(city, decl, cadence, instances)


def assemble_spec(
    city: CityConfig, decl: SeriesDecl, cadence: Cadence | None, instances: Sequence[SeriesInstance]
) -> SeriesSpec:
    """A validated declaration with its parsed cadence and instances, as the planner uses it."""
    return SeriesSpec(
        id=decl.id,
        city=city.name,
        decl=decl,
        cadence=cadence,
        instances=tuple(instances),
        start_time=parse_time_of_day(decl.time),
        duration=parse_duration(decl.duration),
        policy=HolidayPolicy(decl.holidays),
    )
