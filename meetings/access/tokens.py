"""Bearer tokens: how every token is made and kept, and the API tokens (the writer of
``api_tokens``). Feed tokens and their scopes are ``meetings.access.feeds``'.

Tokens are ``secrets.token_urlsafe(32)`` (256 random bits). Only their SHA-256
is stored; a token is found by the hash of what the client presents, so the
lookup never compares secret material byte by byte (the one comparison made,
as a second check, is ``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from meetings.access.principals import AccessError, Scope, check_role, city_choice
from meetings.db import ApiToken, FeedToken
from meetings.kernel.vocabulary import Role

# token_urlsafe(32) gives 43 characters; accept a little either way, nothing odd.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
MAX_LABEL = 200


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token: SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def well_formed(token: str) -> bool:
    """True if ``token`` could be one of ours (checked before any lookup)."""
    return bool(TOKEN_SHAPE.match(token))


def clean_label(label: str | None) -> str | None:
    """A token's label as stored: stripped, at most MAX_LABEL characters, None if empty."""
    return (label or "").strip()[:MAX_LABEL] or None


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: the only moment its plain value exists."""

    id: int
    token: str


def create_api_token(
    session: Session,
    role: str,
    now: datetime,
    *,
    city: str | None = None,
    all_cities: bool = False,
    label: str | None = None,
) -> IssuedToken:
    """Create a bearer token for the JSON API, of one city (or of all cities)."""
    checked = check_role(role)
    city_id = city_choice(session, city, all_cities)
    token = new_token()
    row = ApiToken(
        token_hash=hash_token(token),
        role=checked,
        city_id=city_id,
        all_cities=all_cities,
        label=clean_label(label),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return IssuedToken(row.id, token)


def revoke(
    session: Session, table: type[ApiToken | FeedToken], token_id: int, now: datetime
) -> bool:
    """Revoke an API or feed token by id; False if it was already revoked."""
    row = session.get(ApiToken, token_id) if table is ApiToken else session.get(FeedToken, token_id)
    if row is None:
        what = "API token" if table is ApiToken else "feed token"
        raise AccessError(f"no {what} #{token_id}")
    if row.revoked_at is not None:
        return False
    row.revoked_at = now
    return True


def revoke_api_token(session: Session, token_id: int, now: datetime) -> bool:
    """Revoke an API token; False if it was already revoked."""
    return revoke(session, ApiToken, token_id, now)


def api_scope(session: Session, token: str) -> Scope | None:
    """The role and cities of a live API token, or None (unknown, revoked or malformed
    alike, and a role this version does not know)."""
    if not well_formed(token):
        return None
    digest = hash_token(token)
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
    )
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    try:
        role = Role(row.role)
    except ValueError:  # a role this version does not know: no access
        return None
    return Scope.of(role, row.city_id, row.all_cities, f"api-token#{row.id}")
