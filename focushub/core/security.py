"""Passwords, access tokens and opaque one-time tokens.

Access tokens are HS256 JWTs shaped like Supabase's (``sub``, ``role``, ``aud``,
``exp``, ``iat``, ``iss``, ``email``, ``session_id``, ``app_metadata``), so the
same claims drive ``auth.uid()`` in the database. Decoding accepts exactly one
algorithm, which rules out ``alg: none`` and algorithm-confusion tricks.
Refresh, verification and reset tokens are random strings; only their SHA-256
digests are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from focushub.core.errors import Unauthorized

ALGORITHM = "HS256"
AUDIENCE = "authenticated"

class Passwords:
    """argon2id hashing at the configured cost (``FOCUSHUB_PASSWORD_*``).

    The defaults are RFC 9106's second recommended profile (the library's own: 3
    passes over 64 MiB, 4 lanes), about 0.1 s of CPU per hash on a server core.
    Verifying reads the cost from the stored hash, so hashes made at an earlier
    cost keep working after the setting changes; a password gets the new cost when
    it is next set.
    """

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536,
                 parallelism: int = 4) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                      parallelism=parallelism)
        # Verified against when the account is unknown, so that login takes as long
        # for an unknown email as for a wrong password (made at the first such login).
        self._dummy_hash: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Constant effort: an unknown user costs as much as a wrong password."""
        if password_hash is None:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
            password_hash = self._dummy_hash
            known = False
        else:
            known = True
        try:
            return self._hasher.verify(password_hash, password) and known
        except (VerificationError, InvalidHashError):
            return False


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    claims: dict[str, Any]


def issue_access_token(
    *,
    secret: str,
    issuer: str,
    ttl_seconds: int,
    user_id: uuid.UUID,
    email: str,
    app_role: str,
    session_id: uuid.UUID,
) -> tuple[str, int]:
    """Return ``(token, expires_at_unix)``."""
    now = int(time.time())
    exp = now + ttl_seconds
    claims = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "role": "authenticated",
        "email": email,
        "iat": now,
        "exp": exp,
        "session_id": str(session_id),
        "app_metadata": {"provider": "email", "role": app_role},
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), exp


# Tokens verified lately (token, secret, issuer) -> claims: a client sends the same token with
# every request until it expires, and checking the signature and claims again costs more than
# the rest of a request's authentication. Only valid tokens enter (making one needs the
# secret); a hit is still refused once it has expired. Per process, bounded, oldest out first.
_VERIFIED: dict[tuple[str, str, str], AccessClaims] = {}
_VERIFIED_MAX = 4096


def decode_access_token(token: str, *, secret: str, issuer: str) -> AccessClaims:
    """Validate signature, algorithm, expiry, audience and issuer; raise 401 otherwise."""
    key = (token, secret, issuer)
    known = _VERIFIED.get(key)
    if known is not None:
        if known.claims["exp"] <= time.time():
            _VERIFIED.pop(key, None)
            raise Unauthorized("The access token has expired", code="token_expired")
        return known
    access = _verify(token, secret=secret, issuer=issuer)
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.pop(next(iter(_VERIFIED)), None)
    _VERIFIED[key] = access
    return access


def _verify(token: str, *, secret: str, issuer: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "role", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The access token has expired", code="token_expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("The access token is invalid", code="invalid_token") from None
    if claims.get("role") != "authenticated":
        raise Unauthorized("The access token is invalid", code="invalid_token")
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise Unauthorized("The access token is invalid", code="invalid_token") from None
    return AccessClaims(user_id=user_id, claims=_shared_strings(claims))


def _shared_strings(value: Any) -> Any:
    """``value`` with its keys and short string values interned: a signed-in socket keeps
    its claims for hours, and every socket's claims have the same keys and mostly the same
    values (issuer, audience, role, provider)."""
    if isinstance(value, dict):
        return {sys.intern(k): _shared_strings(v) for k, v in value.items()}
    if isinstance(value, str) and len(value) <= 32:
        return sys.intern(value)
    return value


def anonymous_key(secret: str, purpose: str, client_address: str, day: date) -> str:
    """The counting key of an anonymous client on ``day`` (views, downloads).

    A keyed hash (HMAC-SHA256 with the server's secret) of the purpose, address and
    day: the database never holds an address, a key cannot be reversed by hashing
    every IPv4 address, and keys of different days or purposes are unrelated.
    """
    message = f"focushub.{purpose}|{day.isoformat()}|{client_address}".encode()
    return "anon:" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]
