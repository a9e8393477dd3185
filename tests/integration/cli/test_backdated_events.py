"""Backdated case events (`--at` earlier than `--now`) re-plan what comes after them.

桃園's shipped series, the sample cases: a needs assessment held on 2023-05-02 schedules
the 3-month outcome review for 2023-08-02 (ty-outcome-review).
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import EXAMPLES, Cli


def reviews(cli: Cli) -> list[dict[str, object]]:
    res = cli("schedule", "list", "--series", "ty-outcome-review", "--json")
    assert res.exit_code == 0, res.stderr
    found: list[dict[str, object]] = json.loads(res.stdout)
    return found


@pytest.fixture
def taoyuan(cli: Cli) -> Cli:
    assert (
        cli("config", "load", str(EXAMPLES / "taoyuan.yaml"), "--now", "2023-01-01").exit_code == 0
    )
    span = ("--from", "2023-01-01", "--to", "2023-12-31", "--now", "2023-01-01")
    assert cli("schedule", "generate", *span).exit_code == 0
    res = cli("cases", "import", str(EXAMPLES / "sample_cases.csv"), "--now", "2023-01-05T09:00")
    assert res.exit_code == 0, res.stderr
    res = cli(
        "cases", "event", "TY-CP-0001", "needs_assessment_held",
        "--at", "2023-05-02", "--now", "2023-05-02T17:00",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    [review] = reviews(cli)
    assert (review["start"], review["status"]) == ("2023-08-02T15:00:00+08:00", "scheduled")
    return cli


def test_a_closure_dated_before_the_review_cancels_it_though_its_day_is_past(
    taoyuan: Cli,
) -> None:
    """Typed on 1 Sep, dated 15 Jun: the 2 Aug review was never owed. It is withdrawn
    (個案結案), not a meeting missed, and no later review follows."""
    res = taoyuan(
        "cases", "event", "TY-CP-0001", "closed", "--at", "2023-06-15", "--now", "2023-09-01T09:00"
    )
    assert res.exit_code == 0, res.stderr
    assert "meeting cancelled: ty-outcome-review-" in res.stdout
    [review] = reviews(taoyuan)
    assert review["status"] == "cancelled"
    kpi = json.loads(taoyuan("kpi", "--year", "112", "--series", "ty-outcome-review").stdout)
    total = kpi["rows"][-1]
    assert (total["meetings_scheduled"], total["meetings_withdrawn"]) == (0, 1)


def test_a_closure_dated_after_the_review_leaves_it_owed(taoyuan: Cli) -> None:
    """Dated 15 Aug: the 2 Aug review was due while the case was open, so it stays (and
    counts as scheduled, not held); the closure only stops the reviews after it."""
    res = taoyuan(
        "cases", "event", "TY-CP-0001", "closed", "--at", "2023-08-15", "--now", "2023-09-01T09:00"
    )
    assert res.exit_code == 0, res.stderr
    assert "meeting cancelled" not in res.stdout
    [review] = reviews(taoyuan)
    assert review["status"] == "scheduled"
    kpi = json.loads(taoyuan("kpi", "--year", "112", "--series", "ty-outcome-review").stdout)
    total = kpi["rows"][-1]
    assert (total["meetings_scheduled"], total["meetings_held"]) == (1, 0)


def test_a_backdated_trigger_places_its_meeting_on_the_next_working_day(taoyuan: Cli) -> None:
    """A needs assessment dated 10 Jan, typed on Fri 1 Sep: the review's day (10 Apr) is
    past, so it is placed on the next working day (Mon 4 Sep) and says why."""
    res = taoyuan(
        "cases", "event", "TY-CP-0002", "needs_assessment_held",
        "--at", "2023-01-10", "--now", "2023-09-01T09:00",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    late = [r for r in reviews(taoyuan) if r["start"] != "2023-08-02T15:00:00+08:00"]
    assert [(r["start"], r["moved_reason"]) for r in late] == [
        ("2023-09-04T15:00:00+08:00", "原訂日期已過，儘速召開")
    ]
