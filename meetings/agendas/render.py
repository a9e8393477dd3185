"""Rendering agendas (text, printable A4 HTML, JSON) with Jinja2 templates.

A city overrides a template by placing a file of the same name in
``<its config folder>/templates/<city name>/`` or ``<its config folder>/templates/``.
Template names are fixed and resolved files must stay inside those folders.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.agendas.model import Agenda, agenda_to_json, screened_agenda
from meetings.db import City, CitySettings
from meetings.kernel.localtime import local
from meetings.kernel.rocdate import format_roc_date, format_roc_datetime
from meetings.kernel.templating import make_environment

TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMATS = ("text", "html", "json")


class ConfinedLoader(FileSystemLoader):
    """A FileSystemLoader that refuses files resolving outside its folders (symlinks)."""

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        real = os.path.realpath(filename)
        roots = [os.path.realpath(p) for p in self.searchpath]
        if not any(real.startswith(root + os.sep) for root in roots):
            raise TemplateNotFound(template)
        return source, filename, uptodate


class AgendaTemplateError(Exception):
    """A city's agenda template that cannot be rendered (bad syntax, a file outside
    its folder, an unknown variable). The message names the template and line."""


def environment(overrides: Sequence[Path] = ()) -> Environment:
    """A Jinja2 environment: city folders first, then the built-in templates."""
    folders = [str(p) for p in overrides if p.is_dir()] + [str(TEMPLATES)]
    loader = ChoiceLoader([ConfinedLoader(f) for f in folders])
    return make_environment(loader, trim_blocks=False, sandboxed=True)  # city files: untrusted


def city_template_dirs(session: Session, city_name: str) -> list[Path]:
    """A city's override folders, from the config folders recorded at load time."""
    row = session.execute(
        select(CitySettings.config_dirs)
        .join(City, City.id == CitySettings.city_id)
        .where(City.name == city_name)
    ).first()
    if row is None:
        return []
    # The city's own sub-folder only when its name is one plain path component: a city
    # named "../x" or "/abs" must not point the loader outside the config folder.
    plain = Path(city_name).name == city_name and city_name not in ("", ".", "..")
    plain = plain and "\\" not in city_name and not city_name.startswith(".")
    out: list[Path] = []
    for d in row[0]:
        base = Path(d)
        if not base.is_absolute() or ".." in base.parts:
            continue
        out += ([base / "templates" / city_name] if plain else []) + [base / "templates"]
    return out


@dataclass(frozen=True)
class Roster:
    """Who the printable notice names as 出席者 and 列席者, as its caller knows them (the
    seats, which live above this layer): one line per agency, e.g. 警察局（組長 王小明）."""

    members: tuple[str, ...]
    observers: tuple[str, ...] = ()


def render_agenda(
    agenda: Agenda, fmt: str, overrides: Sequence[Path] = (), *, roster: Roster | None = None
) -> str:
    """The agenda as text, printable HTML or JSON (its free text screened again).

    ``roster``: the HTML notice's 出席者/列席者 (without one: the reporting agencies)."""
    agenda = screened_agenda(agenda)
    if fmt == "json":
        return json.dumps(agenda_to_json(agenda), ensure_ascii=False, indent=2)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (text, html or json)")
    name = "agenda.txt.j2" if fmt == "text" else "agenda.html.j2"
    return _render(name, agenda, overrides, roster)


def render_agenda_fragment(agenda: Agenda, overrides: Sequence[Path] = ()) -> str:
    """The agenda sections as an HTML fragment (for the agenda email body)."""
    return _render("agenda_body.html.j2", screened_agenda(agenda), overrides)


def _render(
    name: str, agenda: Agenda, overrides: Sequence[Path], roster: Roster | None = None
) -> str:
    """Render a fixed template name; ``{% include %}``s resolve inside the same folders
    only (Jinja2 refuses ``..`` segments and reads ``/abs`` as relative to each folder;
    :class:`ConfinedLoader` refuses symlinks pointing elsewhere)."""
    env = environment(overrides)
    tz = agenda.meeting.timezone
    frozen = agenda.frozen_at
    try:
        return env.get_template(name).render(
            agenda=agenda,
            m=agenda.meeting,
            timezone=tz,  # the date filters localise instants (frozen_at) in the city's zone
            when=format_roc_datetime(agenda.meeting.start),
            issued=format_roc_date(local(frozen, tz).date()) if frozen else None,
            roster=roster,
        )
    except TemplateSyntaxError as exc:
        where = f"{exc.filename or exc.name or name}:{exc.lineno}"
        raise AgendaTemplateError(f"{where}: template: {exc.message}") from None
    except TemplateNotFound as exc:
        raise AgendaTemplateError(
            f"{name}: template: {exc.name!r} not found in the city's template folder "
            "(includes must stay inside it)"
        ) from None
    except TemplateError as exc:
        raise AgendaTemplateError(f"{name}: template: {exc}") from None
