"""People who log in to the web pages: users, roles, argon2 password hashes.

This module is the only writer of the ``users`` and ``app_secrets`` tables
(migration 0006). Passwords are hashed with argon2id (``argon2-cffi``); the
plain password is never stored or logged. ``session_version`` is part of every
signed session cookie: bumping it (logout, password change, disabling) ends
every session of that user.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from meetings.access.passwords import password_problem
from meetings.access.principals import AccessError, Scope, check_role, city_choice
from meetings.db import AppSecret, City, User
from meetings.kernel.emails import normalise_email
from meetings.kernel.errors import shorten

_hasher = PasswordHasher()
_dummy: list[str] = []


def _dummy_hash() -> str:
    """Verified against when the email is unknown, so both answers take as long."""
    if not _dummy:
        _dummy.append(_hasher.hash("liaison-no-such-user"))
    return _dummy[0]


class UserError(AccessError):
    """A user request that cannot be carried out (bad input: exit status 2)."""


def check_email(email: str) -> str:
    """A normalised (lower-case) email address, or a UserError."""
    try:
        return normalise_email(email)  # also refuses addresses over 254 characters
    except ValueError:
        raise UserError(f"EMAIL: not an email address: {email!r}") from None


def check_password(password: str, email: str = "") -> str:
    """A password good enough for the login ``email`` (``meetings.access.passwords``);
    a UserError saying why not otherwise."""
    problem = password_problem(password, email)
    if problem is not None:
        raise UserError(f"password: {problem}")
    return password


def find_user(session: Session, email: str) -> User | None:
    """The user with this email (any case), or None."""
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def add_user(
    session: Session,
    email: str,
    role: str,
    password: str,
    now: datetime,
    *,
    city: str | None = None,
    all_cities: bool = False,
) -> User:
    """Create a user of one city (or of all cities) with an argon2 hash of ``password``."""
    e = check_email(email)
    r = check_role(role)
    check_password(password, e)
    city_id = city_choice(session, city, all_cities)
    if find_user(session, e) is not None:
        raise UserError(f"user {e} already exists (use `liaison users passwd` to change it)")
    user = User(
        email=e,
        role=r,
        city_id=city_id,
        all_cities=all_cities,
        password_hash=_hasher.hash(password),
        active=True,
        session_version=1,
        created_at=now,
        updated_at=now,
        last_login_at=None,
    )
    session.add(user)
    session.flush()
    return user


def _get(session: Session, email: str) -> User:
    user = find_user(session, email)
    if user is None:
        raise UserError(f"no user {email.strip().lower()!r}")
    return user


def set_password(session: Session, email: str, password: str, now: datetime) -> User:
    """Change a password; every open session of the user ends."""
    user = _get(session, email)
    check_password(password, user.email)
    user.password_hash = _hasher.hash(password)
    _end_sessions_of(user, now)
    session.flush()
    return user


def set_role(session: Session, email: str, role: str, now: datetime) -> User:
    """Change a user's role; every open session of the user ends."""
    user = _get(session, email)
    user.role = check_role(role)
    _end_sessions_of(user, now)
    session.flush()
    return user


def set_city(
    session: Session, email: str, city: str | None, now: datetime, *, all_cities: bool = False
) -> User:
    """Move a user to one city (or all cities); every open session of the user ends."""
    user = _get(session, email)
    user.city_id = city_choice(session, city, all_cities)
    user.all_cities = all_cities
    _end_sessions_of(user, now)
    session.flush()
    return user


def user_scope(user: User) -> Scope:
    """What a user may see: their role over their city (or every city)."""
    return Scope.of(user.role, user.city_id, user.all_cities, user.email)


def viewer_scope(session: Session, email: str) -> Scope:
    """The scope of the active user named by ``--as``; an AccessError for anyone else.

    Case data is shown only to someone the system knows, and only of their city.
    """
    user = find_user(session, email) if email.strip() else None
    if user is None or not user.active:
        raise UserError(
            f"--as: '{shorten(email.strip())}' is not an active user (see `liaison users list`)"
        )
    scope = user_scope(user)
    if scope.unassigned:
        raise UserError(f"--as: {user.email} has no city yet (`liaison users set-city`)")
    return scope


def city_label(session: Session, city_id: int | None, all_cities: bool) -> str:
    """A login's or token's city as listed: its name, 全部縣市, or 未指定."""
    if all_cities:
        return "全部縣市"
    city = session.get(City, city_id) if city_id is not None else None
    return city.name if city is not None else "未指定"


def set_active(session: Session, email: str, active: bool, now: datetime) -> User:
    """Enable or disable a login; disabling ends every open session."""
    user = _get(session, email)
    if user.active != active:
        user.active = active
        _end_sessions_of(user, now)
        session.flush()
    return user


def authenticate(session: Session, email: str, password: str, now: datetime) -> User | None:
    """The active user with this email and password, or None. Records the login."""
    user = find_user(session, email) if email.strip() else None
    stored = user.password_hash if user is not None else _dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    session.flush()
    return user


def end_sessions(session: Session, user_id: int, now: datetime) -> None:
    """Log a user out everywhere (the session cookies carry the old version)."""
    user = session.get(User, user_id)
    if user is not None:
        _end_sessions_of(user, now)
        session.flush()


def _end_sessions_of(user: User, now: datetime) -> None:
    """Every signed session cookie carries ``session_version``: bumping it ends them all."""
    user.session_version += 1
    user.updated_at = now


def list_users(session: Session) -> list[User]:
    """Every user, by email."""
    return list(session.scalars(select(User).order_by(User.email)))


def secret(session: Session, name: str, now: datetime) -> str:
    """A named server secret, created (256 random bits) on first use."""
    row = session.get(AppSecret, name)
    if row is not None:
        return row.value
    # Two instances may create it at once: the first insert wins, both read it back.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    values = {"name": name, "value": secrets.token_urlsafe(32), "created_at": now}
    session.execute(
        insert(AppSecret).values(values).on_conflict_do_nothing(index_elements=["name"])
    )
    value = session.scalar(select(AppSecret.value).where(AppSecret.name == name))
    assert value is not None
    return value
