"""Validate parsed YAML documents and resolve them into a Config (no file I/O).

The input is one or more already-parsed YAML documents (see ``yamlsource``); the output is
a :class:`Config` of cities, each with resolved series specs. Every problem is reported as
``FILE:LINE: message``; a config with any problem yields no specs at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from meetings.kernel.errors import shorten
from meetings.kernel.localtime import DEFAULT_TIMEZONE
from meetings.kernel.yamlsource import Path_, SourceError, YamlDocument
from meetings.schedule.cadence import Cadence, CadenceError, parse_cadence
from meetings.schedule.declarations import (
    CityConfig,
    Config,
    FileDecl,
    SeriesDecl,
    SeriesSpec,
    assemble_spec,
    series_instances,
)

Parsed = list[tuple[YamlDocument, FileDecl]]


def _format_loc(loc: Sequence[str | int]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + p)
    return "".join(parts)


def _clean_loc(raw_loc: Sequence[str | int]) -> list[str | int]:
    """Drop pydantic's union/validator tags (e.g. 'RuleNode', 'function-before[...]')."""
    loc: list[str | int] = []
    for p in raw_loc:
        if isinstance(p, str) and (p[:1].isupper() or "[" in p or p in ("str", "dict[str,any]")):
            continue
        loc.append("in" if p == "in_" else "not" if p == "not_" else p)
    return loc


def _capped(message: str) -> str:
    """A message that quotes a value of up to 10,000 characters (yamlsource's bound) is
    cut: FILE:LINE and the complaint come first, so they survive."""
    return shorten(message, 300)


def _pydantic_errors(doc: YamlDocument, exc: ValidationError) -> list[str]:
    out: list[str] = []
    for err in exc.errors():
        loc = _clean_loc(list(err["loc"]))
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


def _validate_files(docs: Sequence[YamlDocument]) -> Parsed:
    """Each document checked against the file schema. Raises SourceError."""
    errors: list[str] = []
    parsed: Parsed = []
    for doc in docs:
        if not isinstance(doc.data, dict):
            errors.append(f"{doc.filename}:1: expected a mapping with 'city:' and 'series:'")
            continue
        try:
            parsed.append((doc, FileDecl.model_validate(doc.data)))
        except ValidationError as exc:
            errors.extend(_pydantic_errors(doc, exc))
    if errors:
        raise SourceError([_capped(e) for e in errors])
    return parsed


# --- first pass: the city-level declarations, merged over files ----------------------------


def _merge_settings(city: CityConfig, doc: YamlDocument, fd: FileDecl, errors: list[str]) -> None:
    if fd.timezone:
        # A city still on the default has not declared a zone in an earlier file.
        if city.timezone != DEFAULT_TIMEZONE and city.timezone != fd.timezone:
            errors.append(f"{doc.where(('timezone',))}: conflicting timezone for {fd.city}")
        city.timezone = fd.timezone
    if fd.domain:
        if city.domain and city.domain != fd.domain:
            errors.append(f"{doc.where(('domain',))}: conflicting domain for {fd.city}")
        city.domain = fd.domain
    for key, spec in fd.targets.items():
        if key in city.targets:
            errors.append(f"{doc.where(('targets', key))}: target {key!r} declared twice")
        city.targets[key] = spec


def _merge_lists(city: CityConfig, doc: YamlDocument, fd: FileDecl, errors: list[str]) -> None:
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


def _merge_cities(parsed: Parsed, errors: list[str]) -> dict[str, CityConfig]:
    cities: dict[str, CityConfig] = {}
    for doc, fd in parsed:
        city = cities.get(fd.city)
        if city is None:
            city = cities[fd.city] = CityConfig(
                name=fd.city, timezone=DEFAULT_TIMEZONE, domain="", files=[]
            )
        city.files.append(doc.filename)
        _merge_settings(city, doc, fd, errors)
        _merge_lists(city, doc, fd, errors)
    for name, city in cities.items():
        if not city.domain:
            errors.append(f"{city.files[0]}:1: city {name} needs a 'domain:' (used in UIDs)")
    return cities


# --- second pass: people and series, with references checked -------------------------------


def _check_units(cities: dict[str, CityConfig], parsed: Parsed, errors: list[str]) -> None:
    """Each agency unit names a district of its city: checked once every file of the city
    is merged, since the districts may be declared in another file than the agency."""
    for doc, fd in parsed:
        declared = cities[fd.city].districts
        for i, a in enumerate(fd.agencies):
            for district, unit in a.units.items():
                if district not in declared:
                    known = "、".join(declared) or "none declared"
                    errors.append(
                        f"{doc.where(('agencies', i, 'units', district))}: "
                        f"agencies[{i}].units: agency {a.code!r} unit {unit.name!r}: "
                        f"district {district!r} is not declared in 'districts' (known: {known})"
                    )


def _add_people(city: CityConfig, doc: YamlDocument, fd: FileDecl, errors: list[str]) -> None:
    for i, p in enumerate(fd.people):
        if p.agency is not None and p.agency not in city.agencies:
            errors.append(
                f"{doc.where(('people', i, 'agency'))}: people[{i}].agency: "
                f"agency {p.agency!r} is not declared in 'agencies'"
            )
        city.people[p.email] = p


def _check_agencies(
    city: CityConfig, doc: YamlDocument, i: int, s: SeriesDecl, errors: list[str]
) -> None:
    base: Path_ = ("series", i)
    for key in ("organizer", "secretariat"):
        code = getattr(s, key)
        if code is not None and code not in city.agencies:
            errors.append(
                f"{doc.where(base + (key,))}: series[{i}].{key}: "
                f"agency {code!r} is not declared in 'agencies'"
            )
    for group in ("required", "optional", "observers"):
        for j, code in enumerate(getattr(s.invite, group) or ()):
            if code not in city.agencies:
                errors.append(
                    f"{doc.where(base + ('invite', group, j))}: series[{i}].invite.{group}: "
                    f"agency {code!r} is not declared in 'agencies'"
                )
    for j, d in enumerate(s.deliverables or ()):
        if d.to not in city.agencies:
            errors.append(
                f"{doc.where(base + ('deliverables', j, 'to'))}: series[{i}].deliverables[{j}].to: "
                f"agency {d.to!r} is not declared in 'agencies' (series {s.id})"
            )


def _check_agenda(
    city: CityConfig, doc: YamlDocument, i: int, s: SeriesDecl, errors: list[str]
) -> None:
    base: Path_ = ("series", i, "agenda")
    for zone, names in (s.agenda.zone_districts or {}).items():
        for name in names:
            if name not in city.districts:
                errors.append(
                    f"{doc.where(base + ('zone_districts', zone))}: "
                    f"series[{i}].agenda.zone_districts: district {name!r} is not declared"
                )
    if s.agenda.listing_rule and s.agenda.listing_rule not in city.listing_rules:
        errors.append(
            f"{doc.where(base + ('listing_rule',))}: series[{i}].agenda.listing_rule: "
            f"listing rule {s.agenda.listing_rule!r} is not declared in 'listing_rules'"
        )


def _resolve_series(
    city: CityConfig, doc: YamlDocument, i: int, s: SeriesDecl, errors: list[str]
) -> SeriesSpec | None:
    """The spec of one series, or None with its problems added to ``errors``."""
    base: Path_ = ("series", i)
    cadence: Cadence | None = None
    if s.cadence is not None:
        try:
            cadence = parse_cadence(s.cadence, anchor_month=s.anchor_month)
        except CadenceError as exc:
            errors.append(f"{doc.where(base + ('cadence',))}: series[{i}].cadence: {exc}")
            return None
    instances, problems = series_instances(s, cadence, city)
    for problem in problems:
        errors.append(f"{doc.where(base + ('id',))}: series[{i}] ({s.id}): {problem}")
    if problems:
        return None
    return assemble_spec(city, s, cadence, instances)


def _add_series(cities: dict[str, CityConfig], parsed: Parsed, errors: list[str]) -> None:
    series_seen: dict[str, str] = {}  # series id -> where it was first declared
    for doc, fd in parsed:
        city = cities[fd.city]
        _add_people(city, doc, fd, errors)
        for i, s in enumerate(fd.series):
            where_id = doc.where(("series", i, "id"))
            if s.id in series_seen:
                errors.append(
                    f"{where_id}: series[{i}].id: duplicate series id {s.id!r} "
                    f"(first declared at {series_seen[s.id]})"
                )
                continue
            series_seen[s.id] = where_id
            _check_agencies(city, doc, i, s, errors)
            _check_agenda(city, doc, i, s, errors)
            spec = _resolve_series(city, doc, i, s, errors)
            if spec is not None:
                city.series[s.id] = spec


def build_config(docs: Sequence[YamlDocument]) -> Config:
    """Validate documents and resolve them into a Config. Raises SourceError."""
    parsed = _validate_files(docs)
    errors: list[str] = []
    cities = _merge_cities(parsed, errors)
    _check_units(cities, parsed, errors)
    _add_series(cities, parsed, errors)
    if errors:
        raise SourceError([_capped(e) for e in errors])
    return Config(cities=cities)
