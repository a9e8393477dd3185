"""The password rule: minimum length, not the email, zxcvbn score ≥ 3."""

from __future__ import annotations

import pytest

from meetings.access.passwords import password_problem
from meetings.access.users import UserError, check_password


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("aaaaaaaaaa", "at least 12"),
        ("1234567890", "at least 12"),
        ("aaaaaaaaaaaaaaaa", "too easy to guess"),
        ("123456789012", "too easy to guess"),
        ("chen@example.org", "email"),
        ("Chen-2023-secure!", "email"),
        ("x" * 1025, "at most 1024"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, reason: str) -> None:
    problem = password_problem(password, "chen@example.org")
    assert problem is not None and reason in problem
    with pytest.raises(UserError, match="password:"):
        check_password(password, "chen@example.org")


def test_a_strong_password_is_accepted() -> None:
    assert password_problem("correct horse battery", "chen@example.org") is None
    assert check_password("violet tugboat ledger", "chen@example.org")
