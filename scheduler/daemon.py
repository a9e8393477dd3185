"""The daemon's ticker. APScheduler 3 is only an in-process timer here: all
delivery state lives in our tables, never in an APScheduler job store (its FAQ:
a job store must not be shared between processes)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import OperationalError

from meetings.cases.jobs import run_case_jobs
from notifications.inbound.imap import ImapError, PollReport, poll_mailbox
from notifications.outbox.dispatch import DispatchReport, dispatch_due
from scheduler.bootstrap import App
from scheduler.db import DatabaseUnavailable

log = logging.getLogger("liaison.jobs")

HOUSEKEEPING_SECONDS = 3600.0


def _database_trouble(exc: Exception) -> str:
    """One line for an expected database failure ("database is locked", read-only): the
    next tick retries, so a traceback (with its SQL) would only flood the log."""
    reason = getattr(exc, "orig", None) or exc
    return str(reason).splitlines()[0] if str(reason) else type(exc).__name__


def tick(app: App, worker: str) -> DispatchReport:
    """One pass: plan from new events and minutes deadlines, send what is due."""
    now = app.clock.now()
    return asyncio.run(
        dispatch_due(
            app.sessions,
            app.mailer_factory(),
            now,
            base_url=app.settings.base_url,
            worker=worker,
        )
    )


def housekeeping(app: App) -> int:
    """Case deadlines (hourly): held needs assessments, the next 成效評估 round, escalations.

    Returns the number of escalations raised; the next tick mails them.
    """
    now = app.clock.now()
    with app.transaction() as session:
        return len(run_case_jobs(session, now).escalations)


def poll_imap(app: App) -> PollReport:
    """One poll of ``LIAISON_IMAP_URL`` for calendar replies (each its own transaction)."""
    return poll_mailbox(app.settings.imap_url, app.sessions, app.clock.now)


class Daemon:
    """Runs `tick` every `interval` seconds (and `housekeeping` hourly) until stopped."""

    def __init__(
        self,
        app: App,
        worker: str,
        interval: float = 15.0,
        on_report: Callable[[datetime, DispatchReport], None] | None = None,
    ) -> None:
        self.app = app
        self.worker = worker
        self.interval = interval
        self.on_report = on_report
        self._stopped = threading.Event()
        self._scheduler = BackgroundScheduler(timezone="UTC")

    def _run_tick(self) -> None:
        try:
            report = tick(self.app, self.worker)
        except (OperationalError, DatabaseUnavailable) as exc:
            log.warning("tick failed: database: %s (next tick retries)", _database_trouble(exc))
            return
        except Exception:  # keep the daemon alive; the next tick retries
            log.exception("tick failed")
            return
        if self.on_report is not None:
            self.on_report(self.app.clock.now(), report)

    def _run_housekeeping(self) -> None:
        try:
            housekeeping(self.app)
        except (OperationalError, DatabaseUnavailable) as exc:
            log.warning("housekeeping failed: database: %s", _database_trouble(exc))
        except Exception:  # keep the daemon alive; the next run retries
            log.exception("housekeeping failed")

    def _run_imap(self) -> None:
        try:
            report = poll_imap(self.app)
        except (ImapError, ValueError) as exc:  # the mailbox down, a bad URL: say so, go on
            log.warning("imap poll failed: %s (the next poll retries)", exc)
            return
        except (OperationalError, DatabaseUnavailable) as exc:
            log.warning("imap poll failed: database: %s", _database_trouble(exc))
            return
        except Exception:  # keep the daemon alive; the next poll retries
            log.exception("imap poll failed")
            return
        if report.seen:
            log.info("imap: %d read, %d stored, %d left", report.seen, report.stored, report.failed)

    def start(self) -> None:
        """Tick at once (what became due while we were down), then in the background.

        With ``LIAISON_IMAP_URL`` set, the mailbox is polled too (every
        ``LIAISON_IMAP_POLL_SECONDS``) for calendar replies.
        """
        self._run_housekeeping()
        self._run_tick()
        if self.app.settings.imap_url:
            self._scheduler.add_job(
                self._run_imap,
                IntervalTrigger(seconds=self.app.settings.imap_poll_seconds),
                max_instances=1,
                coalesce=True,
                id="imap",
                next_run_time=datetime.now(UTC),
            )
        self._scheduler.add_job(
            self._run_tick,
            IntervalTrigger(seconds=self.interval),
            max_instances=1,
            coalesce=True,
            id="tick",
        )
        self._scheduler.add_job(
            self._run_housekeeping,
            IntervalTrigger(seconds=HOUSEKEEPING_SECONDS),
            max_instances=1,
            coalesce=True,
            id="housekeeping",
        )
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop the timer and wait for a running tick to finish."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def run_forever(self) -> None:
        """`start`, then block until `stop`."""
        self.start()
        try:
            self._stopped.wait()
        finally:
            self.shutdown()

    def stop(self) -> None:
        self._stopped.set()
