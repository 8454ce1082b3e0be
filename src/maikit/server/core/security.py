"""Secrets: passwords hashed with argon2; API, worker and lease tokens stored as sha256.

Tokens are 256-bit random strings, so a fast hash is enough to keep them unusable if the
database leaks (the reason passwords need a slow one does not apply)."""

from __future__ import annotations

import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` is the one hashed in ``stored``. Without a stored hash (no such
    user, or one without a password) the password is checked against a hash of nothing
    anyone knows, with the same parameters: the answer takes as long, so the time does not
    tell which user names exist."""
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and bool(stored)
    except (VerificationError, InvalidHashError):
        return False


def new_token(prefix: str) -> str:
    """A fresh secret, e.g. ``mai_u_...`` (user) / ``mai_w_...`` (worker) / ``mai_l_...`` (lease)."""
    return f"{prefix}{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
