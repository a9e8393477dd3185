"""`liaison init`, `liaison config …` and `liaison series …`: the schema and the declarations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from meetings.cases.config import load_config
from meetings.db import Series
from meetings.kernel.localtime import local_today
from meetings.schedule.explain import explain_series
from meetings.schedule.occurrences import get_series
from scheduler.bootstrap import init_database
from scheduler.cli.common import (
    BadInput,
    JsonOpt,
    NowOpt,
    emit_json,
    handled,
    make_app,
    print_change_report,
)
from scheduler.configfiles import read_config
from scheduler.settings import Settings

config_app = typer.Typer(help="Check and load YAML series declarations.", no_args_is_help=True)
series_app = typer.Typer(help="Inspect declared series.", no_args_is_help=True)

PathsArg = Annotated[list[Path], typer.Argument(help="YAML files or folders of them.")]


@handled
def init() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    settings = Settings.from_env()
    init_database(settings)
    typer.echo(f"database ready: {settings.database_url}")


@config_app.command("check")
@handled
def config_check(paths: PathsArg) -> None:
    """Validate config files without touching the database."""
    cfg = read_config(paths)
    n_series = sum(len(c.series) for c in cfg.cities.values())
    n_inst = sum(len(s.instances) for s in cfg.all_series())
    typer.echo(
        f"OK: {len(cfg.cities)} cities ({', '.join(cfg.cities)}), "
        f"{n_series} series, {n_inst} series instances"
    )


@config_app.command("load")
@handled
def config_load(paths: PathsArg, now: NowOpt = None, as_json: JsonOpt = False) -> None:
    """Validate and store config files (nothing is stored if any file is invalid)."""
    cfg = read_config(paths)
    application = make_app(now)
    with application.transaction() as session:
        report = load_config(session, cfg, application.clock.now())
    if as_json:
        emit_json(report.as_dict())
        return
    typer.echo(f"loaded {', '.join(report.cities)}")
    typer.echo(
        f"series: {len(report.series_added)} added, {len(report.series_changed)} changed, "
        f"{len(report.series_retired)} retired"
    )
    print_change_report(report.schedule, quiet_if_empty=True)


@series_app.command("list")
@handled
def series_list(as_json: JsonOpt = False) -> None:
    """List stored series."""
    application = make_app()
    with application.transaction() as session:
        rows = session.scalars(select(Series).order_by(Series.city_id, Series.id)).all()
        data = [
            {
                "id": s.id,
                "city": s.city.name,
                "title": s.title,
                "rrule": s.rrule,
                "active": s.active,
                "trigger": s.spec.get("trigger"),
            }
            for s in rows
        ]
    if as_json:
        emit_json(data)
        return
    for d in data:
        flag = "" if d["active"] else " (retired)"
        typer.echo(f"{d['id']:<40} {d['city']}  {d['title']}{flag}")


@series_app.command("explain")
@handled
def series_explain(
    series_id: Annotated[str, typer.Argument(metavar="ID")],
    now: NowOpt = None,
    count: Annotated[int, typer.Option(help="How many dates to show.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Show the normalised rule and the next dates as ROC dates."""
    if count < 1 or count > 100:
        raise BadInput("--count: must be between 1 and 100")
    application = make_app(now)
    now_dt = application.clock.now()
    with application.transaction() as session:
        series = get_series(session, series_id)
        today = local_today(now_dt, series.city.timezone)
        out = explain_series(session, series, today, count)
    if as_json:
        emit_json(out)
        return
    typer.echo(f"{out['id']}  {out['title']}（{out['city']}）")
    if "trigger" in out:
        t = out["trigger"]
        typer.echo(
            f"  觸發: 個案事件 {t['event']}，"
            + (f"{t['within']} 內" if "within" in t else f"偏移 {t['offset']}")
        )
        typer.echo("  (meetings are created when the case event arrives)")
        return
    typer.echo(f"  cadence:   {out['cadence']}")
    rule = f"RRULE:{out['rrule']}" if out["rrule"] else "none (不定期: ad-hoc meetings only)"
    typer.echo(f"  rule:      {rule}")
    typer.echo(f"  meaning:   {out['description']}，{out['time']}，{out['duration']}")
    typer.echo(f"  holidays:  {out['holidays']}（{out['policy_zh']}）")
    for inst in out["instances"]:
        label = inst["district"] or inst["zone"]
        head = (
            f"  next {count}"
            + (f" — {label} (RRULE:{inst['rrule']})" if label and inst["rrule"] else "")
            + ":"
        )
        typer.echo(head)
        for u in inst["next"]:
            typer.echo(f"    {u['roc']}")


def register(app: typer.Typer) -> None:
    """Add `init`, `config` and `series` to the `liaison` app."""
    app.command("init")(init)
    app.add_typer(config_app, name="config")
    app.add_typer(series_app, name="series")
