"""The `liaison` command line: the typer app assembled from one module per command group.

Exit status 0 success, 1 failure, 2 bad input (``scheduler.cli.common.handled``).
The console script ``liaison`` is :func:`main`; ``python -m scheduler.cli.main`` runs it too.
"""

from __future__ import annotations

import sys

import typer
from sqlalchemy.exc import OperationalError

from scheduler.cli import (
    calendar,
    cases,
    config,
    deliverables,
    events,
    feeds,
    grant,
    meetings,
    notify,
    records,
    replies,
    schedule,
    serve,
    users,
)
from scheduler.db import DatabaseUnavailable

app = typer.Typer(
    name="liaison",
    help="Liaison: meetings and case reviews of a city protection network (社會安全網).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# The order of `liaison --help`: commands first, then groups, each in the order added.
for group in (
    config,
    serve,
    schedule,
    calendar,
    meetings,
    events,
    feeds,
    notify,
    records,
    replies,
    grant,
    deliverables,
    cases,
    users,
):
    group.register(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except DatabaseUnavailable as exc:  # commands outside `handled` (serve, run, demo)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except OperationalError as exc:  # e.g. a read-only database meeting `liaison run`
        print(f"database error: {str(exc.orig).splitlines()[0]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
