"""Failed logins slow down the next attempt: per account and per client address, in the database.

This module is the only writer of ``login_throttle`` (migration 0008). A row per key —
``account:EMAIL`` or ``address:IP`` — counts recent failed page logins. Once a key has had its free failures (FREE_FAILURES), every
further failure blocks it for 2^(n - free) seconds, at most MAX_BLOCK: 1 s, 2 s, 4 s …
5 minutes. The rules the issue asked for, and how they hold:

- *Several server processes agree*: the state is rows in the shared database, read
  and written inside the login's own transaction (row locked on PostgreSQL; SQLite
  transactions take the write lock when they begin).
- *An attacker cannot reset it*: nothing is purged on volume; a row is dropped only
  when it would count as nothing anyway (no failure for FORGET and no block left).
- *An attacker cannot lock an account out for long*: a block is at most MAX_BLOCK, and
  an attempt made while blocked is refused unchecked and not counted, so it does not
  extend the block; after FORGET without failures the count starts again.
- A successful login clears the account's key (not the address's: a second, known
  account must not reset the address that is guessing at the first).

Everything is a pure function of a Session and ``now``: tests move the clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meetings.db import LoginThrottle

# Failures a key may have before blocks begin: an account is one person mistyping; an
# address may be a whole office behind one NAT. ``reply:IP`` counts the reply slip's
# answers and dead links from one address (scheduler.pages.reply), not logins.
FREE_FAILURES = {"account": 5, "address": 20, "reply": 20}
MAX_BLOCK = timedelta(minutes=5)
FORGET = timedelta(minutes=15)  # no failure for this long: the count starts again
MAX_KEY = 300  # the column's length


def account_key(email: str) -> str:
    return "account:" + email.strip().lower()[:254]


def address_key(host: str) -> str:
    return "address:" + (host.strip()[:64] or "unknown")


def block_after(key: str, failures: int) -> timedelta:
    """How long ``key`` is blocked after its ``failures``-th failure (0: not at all)."""
    free = FREE_FAILURES.get(key.split(":", 1)[0], FREE_FAILURES["account"])
    if failures < free:
        return timedelta(0)
    exponent = min(failures - free, 16)  # 2^16 s is far past the cap already
    return min(timedelta(seconds=2**exponent), MAX_BLOCK)


def wait_seconds(session: Session, keys: Iterable[str], now: datetime) -> int:
    """Seconds until every key in ``keys`` may try again (0: now)."""
    wait = 0.0
    for key in keys:
        row = session.get(LoginThrottle, key[:MAX_KEY])
        if row is not None and row.blocked_until is not None and row.blocked_until > now:
            wait = max(wait, (row.blocked_until - now).total_seconds())
    return math.ceil(wait)


def _locked_row(session: Session, key: str, now: datetime) -> LoginThrottle:
    """The key's row, locked for this transaction; created (with no failures) if new."""
    row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
    if row is not None:
        return row
    try:
        with session.begin_nested():  # another process may insert the same key first
            session.add(LoginThrottle(key=key, failures=0, last_failure_at=now))
    except IntegrityError:
        pass
    row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
    assert row is not None
    return row


def record_failure(session: Session, keys: Iterable[str], now: datetime) -> None:
    """Count a failed attempt against every key in ``keys`` (blocking those past their
    free failures), and drop rows that no longer count."""
    for key in keys:
        row = _locked_row(session, key[:MAX_KEY], now)
        blocked = row.blocked_until is not None and row.blocked_until > now
        if not blocked and now - row.last_failure_at >= FORGET:
            row.failures = 0  # quiet for long enough: start again
        row.failures += 1
        row.last_failure_at = now
        block = block_after(row.key, row.failures)
        row.blocked_until = now + block if block else None
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failure_at <= now - FORGET,
            or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until <= now),
        )
    )
    session.flush()


def record_success(session: Session, key: str) -> None:
    """A successful login: the account's failures are forgotten."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key[:MAX_KEY]))
    session.flush()
