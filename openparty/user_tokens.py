"""Verify Supabase user access tokens (JWTs) for the endpoints the app calls.

Supabase signs with the project's JWT secret (HS256, legacy) or with
asymmetric signing keys published at <project>/auth/v1/.well-known/jwks.json
(RS256 / ES256). Either way the token must carry aud=authenticated, an unexpired
exp, a sub and role=authenticated.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import jwt

from openparty.settings import Settings

ASYMMETRIC_ALGORITHMS = ("RS256", "ES256", "EdDSA")
log = logging.getLogger("openparty.user_tokens")


class InvalidToken(Exception):
    """The token cannot be trusted; the message says why (shown to the client)."""


@dataclass(frozen=True)
class User:
    id: UUID
    role: str
    claims: dict[str, Any]


class JwksCache:
    """The project's signing keys, fetched over HTTP and kept for a while.

    A token with an unknown kid may mean the project rotated its keys, so it
    triggers a refetch, but at most one per min_refetch seconds (failed
    fetches count too), and concurrent requests share that one fetch: tokens
    with made-up kids cannot make us hammer the JWKS endpoint."""

    def __init__(self, url: str, http: httpx.AsyncClient, ttl_seconds: float,
                 min_refetch_seconds: float = 30.0) -> None:
        self.url, self.http, self.ttl, self.min_refetch = url, http, ttl_seconds, min_refetch_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch tried, successful or not
        self._lock = asyncio.Lock()

    def _should_fetch(self, kid: str | None) -> bool:
        now = time.monotonic()
        if self._attempted_at is not None and now - self._attempted_at < self.min_refetch:
            return False
        stale = self._fetched_at is None or now - self._fetched_at > self.ttl
        return stale or kid not in self._keys

    async def _refresh(self) -> None:
        self._attempted_at = time.monotonic()
        response = await self.http.get(self.url, timeout=5)
        response.raise_for_status()
        keyset = jwt.PyJWKSet.from_dict(response.json())
        self._keys = {key.key_id: key for key in keyset.keys if key.key_id}
        self._fetched_at = time.monotonic()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        if self._should_fetch(kid):
            async with self._lock:
                if self._should_fetch(kid):  # another request may have fetched meanwhile
                    try:
                        await self._refresh()
                    except (httpx.HTTPError, jwt.PyJWKSetError, ValueError) as exc:
                        log.warning("auth.jwks_unavailable url=%s error=%s", self.url, exc)
                        raise InvalidToken("signing keys unavailable") from exc
        if self._fetched_at is None or time.monotonic() - self._fetched_at > self.ttl:
            raise InvalidToken("signing keys unavailable")  # the last fetches failed; retried shortly
        if kid not in self._keys:
            raise InvalidToken("token signed with an unknown key")
        return self._keys[kid]


class TokenVerifier:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.jwks = (JwksCache(settings.jwks_url, http, settings.jwks_cache_seconds, settings.jwks_min_refetch_seconds)
                     if settings.jwks_url else None)

    async def verify(self, token: str) -> User:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        algorithm = header.get("alg")
        if algorithm == "HS256":
            if self.settings.supabase_jwt_secret is None:
                raise InvalidToken("HS256 tokens are not accepted: no JWT secret configured")
            key: Any = self.settings.supabase_jwt_secret.get_secret_value()
        elif algorithm in ASYMMETRIC_ALGORITHMS:
            if self.jwks is None:
                raise InvalidToken("asymmetric tokens are not accepted: OPENPARTY_SUPABASE_URL is not set")
            key = await self.jwks.key(header.get("kid"))
        else:
            raise InvalidToken(f"unsupported signing algorithm {algorithm!r}")

        options: jwt.types.Options = {"require": ["exp", "sub", "aud"]}
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options=options,
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("token has the wrong audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("token has the wrong issuer") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid token: {exc}") from exc
        if claims.get("role") != "authenticated":
            raise InvalidToken("a signed-in user's token is required")
        try:
            user_id = UUID(claims["sub"])
        except ValueError as exc:
            raise InvalidToken("token subject is not a user id") from exc
        return User(id=user_id, role=claims["role"], claims=claims)
