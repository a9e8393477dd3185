"""Login throttling in the database: shared by app instances, not resettable, capped."""

from __future__ import annotations

from datetime import timedelta

from meetings.access.throttle import (
    FREE_FAILURES,
    MAX_BLOCK,
    account_key,
    address_key,
    record_failure,
    record_success,
    wait_seconds,
)
from scheduler.bootstrap import App, build_app
from scheduler.clock import FixedClock
from scheduler.settings import Settings

ADMIN = account_key("admin@example.org")


def fail(app: App, keys: list[str], times: int = 1) -> None:
    for _ in range(times):
        with app.transaction() as s:
            record_failure(s, keys, app.clock.now())


def wait(app: App, keys: list[str]) -> int:
    with app.transaction() as s:
        return wait_seconds(s, keys, app.clock.now())


def test_two_app_instances_over_one_database_agree(db_url: str, clock: FixedClock) -> None:
    one = build_app(Settings(database_url=db_url), clock)
    two = build_app(Settings(database_url=db_url), clock)
    try:
        fail(one, [ADMIN], FREE_FAILURES["account"] - 1)
        assert wait(two, [ADMIN]) == 0
        fail(two, [ADMIN])  # the 5th failure, counted by the other instance
        assert wait(one, [ADMIN]) == 1 and wait(two, [ADMIN]) == 1
    finally:
        one.close()
        two.close()


def test_flooding_other_emails_does_not_clear_a_block(app: App, clock: FixedClock) -> None:
    fail(app, [ADMIN], FREE_FAILURES["account"] + 3)
    blocked = wait(app, [ADMIN])
    assert blocked == 8
    with app.transaction() as s:  # a spray of other emails (the old table was cleared at 10,001)
        for n in range(10_001):
            record_failure(s, [account_key(f"y{n}@example.org")], clock.now())
    assert wait(app, [ADMIN]) == blocked


def test_a_block_is_capped_and_ends(app: App, clock: FixedClock) -> None:
    for _ in range(40):  # keep failing whenever allowed: the block never passes the cap
        fail(app, [ADMIN])
        w = wait(app, [ADMIN])
        assert w <= MAX_BLOCK.total_seconds()
        clock.advance(timedelta(seconds=w))
    fail(app, [ADMIN])
    assert wait(app, [ADMIN]) == MAX_BLOCK.total_seconds()
    clock.advance(MAX_BLOCK)
    assert wait(app, [ADMIN]) == 0


def test_success_clears_the_account_not_the_address(app: App) -> None:
    address = address_key("192.0.2.7")
    fail(app, [ADMIN, address], FREE_FAILURES["address"])
    assert wait(app, [ADMIN]) > 0 and wait(app, [address]) > 0
    with app.transaction() as s:
        record_success(s, ADMIN)
    assert wait(app, [ADMIN]) == 0 and wait(app, [address]) > 0
