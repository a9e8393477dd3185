"""The daemon's ticker. APScheduler 3 is only an in-process timer here: all
delivery state lives in our tables, never in an APScheduler job store (its FAQ:
a job store must not be shared between processes)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from notifications.dispatch import DispatchReport, dispatch_due, minutes_due_check
from notifications.mailer import SmtpMailer, parse_smtp_url
from scheduler.app import App

log = logging.getLogger("liaison.jobs")


def tick(app: App, worker: str) -> DispatchReport:
    """One pass: plan from new events, check minutes deadlines, send what is due."""
    now = app.clock.now()
    with app.transaction() as session:
        minutes_due_check(session, now)
    smtp = parse_smtp_url(app.settings.smtp_url)
    return asyncio.run(
        dispatch_due(
            app.sessions,
            lambda: SmtpMailer(smtp),
            now,
            base_url=app.settings.base_url,
            worker=worker,
        )
    )


class Daemon:
    """Runs `tick` every `interval` seconds until stopped (or once)."""

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
        except Exception:  # keep the daemon alive; the next tick retries
            log.exception("tick failed")
            return
        if self.on_report is not None:
            self.on_report(self.app.clock.now(), report)

    def run_forever(self) -> None:
        self._run_tick()  # at once on start: whatever became due while we were down
        self._scheduler.add_job(
            self._run_tick,
            IntervalTrigger(seconds=self.interval),
            max_instances=1,
            coalesce=True,
            id="tick",
        )
        self._scheduler.start()
        try:
            self._stopped.wait()
        finally:
            self._scheduler.shutdown(wait=True)

    def stop(self) -> None:
        self._stopped.set()
