"""Secrets: passwords hashed with argon2; API, worker and lease tokens stored as sha256.

Tokens are 256-bit random strings, so a fast hash is enough to keep them unusable if the
database leaks (the reason passwords need a slow one does not apply)."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return _hasher.verify(stored, password)
    except VerificationError:
        return False


def new_token(prefix: str) -> str:
    """A fresh secret, e.g. ``mai_u_...`` (user) / ``mai_w_...`` (worker) / ``mai_l_...`` (lease)."""
    return f"{prefix}{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
