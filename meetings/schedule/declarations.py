"""Parse and validate series declarations into SeriesSpec values (no file I/O).

The input is one or more already-parsed YAML documents (see ``yamlsource``);
the output is a :class:`Config` of cities, each with resolved series specs.
Every problem is reported as ``FILE:LINE: message``; a config with any
problem yields no specs at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from meetings.kernel.yamlsource import Path_, SourceError, YamlDocument
from meetings.schedule.cadence import Cadence, CadenceError, for_instance, parse_cadence
from meetings.schedule.workdays import HolidayPolicy

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
EMAIL = re.compile(r"^[^@\s<>,;\"']+@[^@\s<>,;\"']+\.[^@\s<>,;\"']+$")
ROLES = ("admin", "secretariat", "participant")
Role = Literal["admin", "secretariat", "participant"]
CASE_EVENTS = (
    "rereported",
    "order_issued",
    "order_expiry",
    "deviant_behaviour_report",
    "needs_assessment_held",
    "closed",
)
CASE_FIELDS = (
    "case_no",
    "case_type",
    "district",
    "sdm_risk",
    "tipvda_score",
    "service",
    "status",
    "agency",
    "worker",
    "reported_at",
    "rereported_at",
    "order_expiry",
    "listed_reason",
    "rereported_during_service",
)

_DURATION = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*(?:m|min))?\s*$")
_SPAN = re.compile(r"^\s*([+-]?)(\d+)\s*(d|wd|w|mo)\s*$")


def parse_duration(value: object) -> timedelta:
    """'2h', '90m', '1h30m' or minutes as an int → timedelta."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        minutes = value
    else:
        m = _DURATION.match(str(value))
        if not m or not (m.group(1) or m.group(2)):
            raise ValueError(f"not a duration: {value!r} (write 2h, 90m or 1h30m)")
        minutes = int(m.group(1) or 0) * 60 + int(m.group(2) or 0)
    if not 0 < minutes <= 24 * 60:
        raise ValueError(f"duration must be between 1 minute and 24 hours, got {value!r}")
    return timedelta(minutes=minutes)


@dataclass(frozen=True)
class Span:
    """A signed distance in days, working days, weeks or months (e.g. -2mo, 5wd)."""

    amount: int
    unit: Literal["d", "wd", "w", "mo"]

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def parse_span(value: object) -> Span:
    """'-2mo', '5wd', '7d', '3mo' → Span."""
    m = _SPAN.match(str(value))
    if not m:
        raise ValueError(f"not a time span: {value!r} (write e.g. 7d, 5wd, 2w, -2mo)")
    sign = -1 if m.group(1) == "-" else 1
    unit = m.group(3)
    assert unit in ("d", "wd", "w", "mo")
    return Span(sign * int(m.group(2)), unit)  # type: ignore[arg-type]


def _parse_time(value: object) -> time:
    text = str(value).strip()
    m = re.match(r"^(\d{1,2}):(\d{2})$", text)
    if not m:
        raise ValueError(f'not a time of day: {value!r} (write it as "14:00")')
    h, mi = int(m.group(1)), int(m.group(2))
    if h > 23 or mi > 59:
        raise ValueError(f"not a time of day: {value!r} (hours 0–23, minutes 0–59)")
    return time(h, mi)


def _check_email(value: str) -> str:
    if not EMAIL.match(value):
        raise ValueError(f"not an email address: {value!r}")
    return value


Email = Annotated[str, BeforeValidator(lambda v: _check_email(str(v).strip()))]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgencyDecl(_Strict):
    code: str
    name: str
    kind: str | None = None
    emails: list[Email] = Field(default_factory=list)

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not CODE.match(v):
            raise ValueError(f"agency code {v!r} must be letters, digits, - or _ (max 32)")
        return v


class DistrictDecl(_Strict):
    name: str
    code: str | None = None

    @field_validator("code")
    @classmethod
    def _code(cls, v: str | None) -> str | None:
        if v is not None and not SLUG.match(v):
            raise ValueError(f"district code {v!r} must be lower-case letters, digits or -")
        return v


def _district(v: object) -> object:
    return {"name": v} if isinstance(v, str) else v


def _default_roles() -> list[Role]:
    return ["participant"]


class PersonDecl(_Strict):
    email: Email
    name: str
    agency: str | None = None
    roles: list[Role] = Field(default_factory=_default_roles)


class InviteDecl(_Strict):
    required: list[str] = Field(default_factory=list)
    optional: list[str] = Field(default_factory=list)
    people: list[Email] = Field(default_factory=list)


class AgendaDecl(_Strict):
    listing_rule: str | None = None
    carry_over: bool = True
    max_cases: int = Field(default=15, ge=1, le=500)
    # Zoned series: which districts' cases each zone's meeting discusses.
    zone_districts: dict[str, list[str]] | None = None


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
    title: str
    organizer: str | None = None
    chair: str | None = None
    secretariat: str | None = None
    cadence: str | dict[str, Any] | None = None
    anchor_month: int | None = Field(default=None, ge=1, le=12)
    trigger: TriggerDecl | None = None
    time: str = "14:00"
    duration: str = "2h"
    location: str | None = None
    invite: InviteDecl = Field(default_factory=InviteDecl)
    holidays: HolidayPolicy = HolidayPolicy.NEXT_WORKING_DAY
    agenda: AgendaDecl = Field(default_factory=AgendaDecl)
    reminders: list[ReminderDecl] | None = None
    minutes_due: str = "7d"
    per_district: bool = False
    districts: list[str] | None = None
    zones: list[str] | None = None
    start: date | None = None
    until: date | None = None
    adhoc: bool = True
    notes: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not SLUG.match(v):
            raise ValueError(f"series id {v!r} must be lower-case letters, digits or - (max 63)")
        return v

    @field_validator("time")
    @classmethod
    def _time(cls, v: object) -> str:
        _parse_time(v)
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
        return self


class Condition(_Strict):
    field: str
    eq: Any = None
    ne: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    gte: Any = None
    lte: Any = None
    exists: bool | None = None

    @field_validator("field")
    @classmethod
    def _field(cls, v: str) -> str:
        if v not in CASE_FIELDS:
            raise ValueError(f"unknown case field {v!r}; known: {', '.join(CASE_FIELDS)}")
        return v

    @model_validator(mode="after")
    def _one_op(self) -> Condition:
        ops = [
            k for k in ("eq", "ne", "in_", "gte", "lte", "exists") if getattr(self, k) is not None
        ]
        if len(ops) != 1:
            raise ValueError("a condition needs exactly one of eq, ne, in, gte, lte, exists")
        return self


class RuleNode(_Strict):
    all: list[RuleNode | Condition] | None = None
    any: list[RuleNode | Condition] | None = None
    not_: RuleNode | Condition | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _one(self) -> RuleNode:
        if sum(x is not None for x in (self.all, self.any, self.not_)) != 1:
            raise ValueError("a rule group needs exactly one of all, any, not")
        return self


class ListingRuleDecl(_Strict):
    id: str
    title: str
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
    reason: str


class FileDecl(_Strict):
    """One YAML file. Several files may declare the same city; they are merged."""

    city: str
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

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {v!r} (e.g. Asia/Taipei)") from None
        return v

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[A-Za-z0-9.-]+$", v):
            raise ValueError(f"domain {v!r} must be a DNS name such as liaison.taoyuan.example")
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
    files: list[str] = field(default_factory=list)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass
class Config:
    cities: dict[str, CityConfig]

    def all_series(self) -> Iterable[SeriesSpec]:
        for city in self.cities.values():
            yield from city.series.values()


def _format_loc(loc: Sequence[str | int]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + p)
    return "".join(parts)


def _pydantic_errors(doc: YamlDocument, exc: ValidationError) -> list[str]:
    out: list[str] = []
    for err in exc.errors():
        raw_loc = [p for p in err["loc"]]
        # Drop pydantic's union/validator tags (e.g. 'RuleNode', 'function-before[...]').
        loc: list[str | int] = []
        for p in raw_loc:
            if isinstance(p, str) and (
                p[:1].isupper() or "[" in p or p in ("str", "dict[str,any]")
            ):
                continue
            loc.append("in" if p == "in_" else "not" if p == "not_" else p)
        path: Path_ = tuple(loc)
        msg = str(err["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r}" if loc else "unknown key"
        elif kind == "missing":
            msg = f"missing required key {loc[-1]!r}" if loc else msg
        where = _format_loc(loc)
        line = doc.line_of(path)
        text = (
            f"{doc.filename}:{line}: {where}: {msg}" if where else f"{doc.filename}:{line}: {msg}"
        )
        if text not in out:
            out.append(text)
    return out


def _instances(
    decl: SeriesDecl, cadence: Cadence | None, city: CityConfig
) -> tuple[list[SeriesInstance], list[str]]:
    """Fan a series out over districts or zones. Returns (instances, problems)."""
    problems: list[str] = []
    if decl.per_district:
        names = decl.districts if decl.districts is not None else list(city.districts)
        if not names:
            problems.append("per_district: true but the city declares no districts")
            return [], problems
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
        return out, problems
    if decl.districts is not None:
        problems.append("'districts' on a series needs per_district: true")
    zones = decl.zones
    if cadence is not None and cadence.fan_out is not None:
        if not zones:
            problems.append(
                f"cadence {cadence.source!r} fans out over {cadence.fan_out} zones: "
                f"declare them with zones: [..] on the series"
            )
            return [], problems
        if len(zones) != cadence.fan_out:
            problems.append(
                f"cadence {cadence.source!r} names {cadence.fan_out} zones "
                f"but the series declares {len(zones)}"
            )
            return [], problems
    if zones:
        if len(set(zones)) != len(zones):
            problems.append("zones are listed twice")
        out = []
        for i, zone in enumerate(zones):
            out.append(
                SeriesInstance(
                    key=f"{decl.id}-z{i + 1}",
                    district=None,
                    zone=zone,
                    title=decl.title.replace("{zone}", zone).replace("{district}", zone),
                    cadence=for_instance(cadence, i) if cadence else None,
                )
            )
        return out, problems
    if "{district}" in decl.title or "{zone}" in decl.title:
        problems.append("title uses {district}/{zone} but the series is not per_district or zoned")
    return [SeriesInstance(decl.id, None, None, decl.title, cadence)], problems


def build_config(docs: Sequence[YamlDocument]) -> Config:
    """Validate documents and resolve them into a Config. Raises SourceError."""
    errors: list[str] = []
    parsed: list[tuple[YamlDocument, FileDecl]] = []
    for doc in docs:
        if not isinstance(doc.data, dict):
            errors.append(f"{doc.filename}:1: expected a mapping with 'city:' and 'series:'")
            continue
        try:
            parsed.append((doc, FileDecl.model_validate(doc.data)))
        except ValidationError as exc:
            errors.extend(_pydantic_errors(doc, exc))
    if errors:
        raise SourceError(errors)

    cities: dict[str, CityConfig] = {}
    series_seen: dict[str, str] = {}
    # First pass: merge the city-level declarations so references can be checked.
    for doc, fd in parsed:
        city = cities.get(fd.city)
        if city is None:
            city = cities[fd.city] = CityConfig(
                name=fd.city, timezone="Asia/Taipei", domain="", files=[]
            )
        city.files.append(doc.filename)
        if fd.timezone:
            if city.timezone != "Asia/Taipei" and city.timezone != fd.timezone:
                errors.append(f"{doc.where(('timezone',))}: conflicting timezone for {fd.city}")
            city.timezone = fd.timezone
        if fd.domain:
            if city.domain and city.domain != fd.domain:
                errors.append(f"{doc.where(('domain',))}: conflicting domain for {fd.city}")
            city.domain = fd.domain
        for i, a in enumerate(fd.agencies):
            if a.code in city.agencies:
                errors.append(f"{doc.where(('agencies', i))}: agency {a.code!r} declared twice")
            city.agencies[a.code] = a
        for i, d in enumerate(fd.districts):
            if d.name in city.districts:
                errors.append(f"{doc.where(('districts', i))}: district {d.name!r} declared twice")
            city.districts[d.name] = d
        codes = [d.code for d in city.districts.values() if d.code]
        if len(codes) != len(set(codes)):
            errors.append(f"{doc.where(('districts',))}: two districts share a code")
        for i, r in enumerate(fd.listing_rules):
            if r.id in city.listing_rules:
                errors.append(
                    f"{doc.where(('listing_rules', i))}: listing rule {r.id!r} declared twice"
                )
            city.listing_rules[r.id] = r
        for c in fd.closures:
            city.closures[c.date] = c.reason
    for name, city in cities.items():
        if not city.domain:
            errors.append(f"{city.files[0]}:1: city {name} needs a 'domain:' (used in UIDs)")

    # Second pass: people and series, with references checked.
    for doc, fd in parsed:
        city = cities[fd.city]
        for i, p in enumerate(fd.people):
            if p.agency is not None and p.agency not in city.agencies:
                errors.append(
                    f"{doc.where(('people', i, 'agency'))}: people[{i}].agency: "
                    f"agency {p.agency!r} is not declared in 'agencies'"
                )
            city.people[p.email] = p
        for i, s in enumerate(fd.series):
            base: Path_ = ("series", i)
            if s.id in series_seen:
                errors.append(
                    f"{doc.where(base + ('id',))}: series[{i}].id: duplicate series id {s.id!r} "
                    f"(first declared at {series_seen[s.id]})"
                )
                continue
            series_seen[s.id] = doc.where(base + ("id",))
            for key in ("organizer",):
                code = getattr(s, key)
                if code is not None and code not in city.agencies:
                    errors.append(
                        f"{doc.where(base + (key,))}: series[{i}].{key}: "
                        f"agency {code!r} is not declared in 'agencies'"
                    )
            for group in ("required", "optional"):
                for j, code in enumerate(getattr(s.invite, group)):
                    if code not in city.agencies:
                        errors.append(
                            f"{doc.where(base + ('invite', group, j))}: series[{i}].invite.{group}: "
                            f"agency {code!r} is not declared in 'agencies'"
                        )
            for zone, names in (s.agenda.zone_districts or {}).items():
                for name in names:
                    if name not in city.districts:
                        errors.append(
                            f"{doc.where(base + ('agenda', 'zone_districts', zone))}: "
                            f"series[{i}].agenda.zone_districts: district {name!r} is not declared"
                        )
            if s.agenda.listing_rule and s.agenda.listing_rule not in city.listing_rules:
                errors.append(
                    f"{doc.where(base + ('agenda', 'listing_rule'))}: series[{i}].agenda.listing_rule: "
                    f"listing rule {s.agenda.listing_rule!r} is not declared in 'listing_rules'"
                )
            cadence: Cadence | None = None
            if s.cadence is not None:
                try:
                    cadence = parse_cadence(s.cadence, anchor_month=s.anchor_month)
                except CadenceError as exc:
                    errors.append(f"{doc.where(base + ('cadence',))}: series[{i}].cadence: {exc}")
                    continue
            instances, problems = _instances(s, cadence, city)
            for problem in problems:
                errors.append(f"{doc.where(base + ('id',))}: series[{i}] ({s.id}): {problem}")
            if problems:
                continue
            city.series[s.id] = SeriesSpec(
                id=s.id,
                city=city.name,
                decl=s,
                cadence=cadence,
                instances=tuple(instances),
                start_time=_parse_time(s.time),
                duration=parse_duration(s.duration),
                policy=HolidayPolicy(s.holidays),
            )
    if errors:
        raise SourceError(errors)
    return Config(cities=cities)


def spec_from_decl(city: CityConfig, decl: SeriesDecl) -> SeriesSpec:
    """Rebuild a SeriesSpec from a stored declaration (already validated once)."""
    cadence = parse_cadence(decl.cadence, anchor_month=decl.anchor_month) if decl.cadence else None
    instances, problems = _instances(decl, cadence, city)
    if problems:
        raise ValueError("; ".join(problems))
    return SeriesSpec(
        id=decl.id,
        city=city.name,
        decl=decl,
        cadence=cadence,
        instances=tuple(instances),
        start_time=_parse_time(decl.time),
        duration=parse_duration(decl.duration),
        policy=HolidayPolicy(decl.holidays),
    )
