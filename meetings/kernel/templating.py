"""The one Jinja2 environment factory and its filters, for mail, agendas and pages.

Filters are defined here once: ``roc_date``, ``roc_short``, ``roc_datetime``,
``zh_num`` and ``version``. Date filters localise an aware instant in the zone given as their argument,
else the render context's ``timezone``, else the city default.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from jinja2 import (
    BaseLoader,
    Environment,
    StrictUndefined,
    Undefined,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from meetings.kernel.localtime import local
from meetings.kernel.rocdate import format_roc_date, format_roc_datetime, roc_year, zh_num

EMPTY = "—"


def _zone(ctx: Context, tz: str | None) -> str | None:
    return tz or ctx.get("timezone")


def _day(ctx: Context, value: date | datetime | str, tz: str | None) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(value, datetime):
        return local(value, _zone(ctx, tz)).date()
    return value


@pass_context
def roc_date(ctx: Context, value: date | datetime | str | None, tz: str | None = None) -> str:
    """112年3月8日（星期三）; an instant is first put in the city's zone."""
    return EMPTY if value is None else format_roc_date(_day(ctx, value, tz))


@pass_context
def roc_short(ctx: Context, value: date | datetime | str | None, tz: str | None = None) -> str:
    """112年3月8日, without the weekday (for table cells)."""
    if value is None:
        return EMPTY
    d = _day(ctx, value, tz)
    return f"{roc_year(d.year)}年{d.month}月{d.day}日"


@pass_context
def roc_datetime(ctx: Context, value: datetime | None, tz: str | None = None) -> str:
    """112年3月8日（星期三）下午2時, in the city's zone."""
    return EMPTY if value is None else format_roc_datetime(local(value, _zone(ctx, tz)))


def version(sequence: int) -> str:
    """A meeting's version as every page, notice and mail prints it: 第N版 with N =
    SEQUENCE + 1 (a new meeting, SEQUENCE 0, is 第1版)."""
    return f"第{int(sequence) + 1}版"


FILTERS: dict[str, Any] = {
    "version": version,
    "roc_date": roc_date,
    "roc_short": roc_short,
    "roc_datetime": roc_datetime,
    "zh_num": zh_num,
}


def make_environment(
    loader: BaseLoader,
    *,
    html_extensions: Sequence[str] = ("html", "html.j2"),
    autoescape_default: bool = False,
    strict: bool = True,
    keep_trailing_newline: bool = True,
    sandboxed: bool = False,
    **options: Any,
) -> Environment:
    """An environment with Liaison's filters.

    ``sandboxed``: a ``SandboxedEnvironment``, for templates a city supplies (files in
    its config folder are not trusted code: without the sandbox
    ``{{ cycler.__init__.__globals__.os.popen(...) }}`` runs a shell command). Unsafe
    attribute access then raises ``jinja2.exceptions.SecurityError`` (a TemplateError).
    """
    kind = SandboxedEnvironment if sandboxed else Environment
    env = kind(
        loader=loader,
        autoescape=select_autoescape(
            enabled_extensions=tuple(html_extensions), default=autoescape_default
        ),
        keep_trailing_newline=keep_trailing_newline,
        undefined=StrictUndefined if strict else Undefined,
        **options,
    )
    env.filters.update(FILTERS)
    return env
