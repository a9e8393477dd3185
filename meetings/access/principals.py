"""Who asks: the roles of people and API tokens, and what each role may do.

The role words are the vocabulary's (``meetings.kernel.vocabulary.Role``): a user or
an API token has one, and a role includes every lower one
(admin > secretariat > participant).
"""

from __future__ import annotations

from meetings.kernel.errors import OperationError
from meetings.kernel.vocabulary import Role

# A role may do what every lower role may.
RANK = {Role.PARTICIPANT: 0, Role.SECRETARIAT: 1, Role.ADMIN: 2}
# Who runs the meetings (may read KPIs and record what happened).
STAFF = frozenset({Role.ADMIN, Role.SECRETARIAT})


class AccessError(OperationError):
    """A user, token or scope request that cannot be carried out (bad input: exit 2)."""


def check_role(role: str) -> Role:
    """``role`` (any case) as a Role, or an AccessError naming the choices."""
    try:
        return Role(role.strip().lower())
    except ValueError:
        choices = ", ".join(Role)
        raise AccessError(f"--role: must be one of {choices}, not {role!r}") from None


def at_least(role: str, minimum: Role) -> bool:
    """True if ``role`` may do what ``minimum`` may (an unknown role may do nothing)."""
    try:
        return RANK[Role(role)] >= RANK[minimum]
    except ValueError:
        return False
