"""Verify Supabase user access tokens (JWTs) for the endpoints the app calls.

Supabase signs with the project's JWT secret (HS256, legacy) or with
asymmetric signing keys published at <project>/auth/v1/.well-known/jwks.json
(RS256 / ES256). Either way the token must carry aud=authenticated, an unexpired
exp, a sub and role=authenticated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import jwt

from openparty.settings import Settings

ASYMMETRIC_ALGORITHMS = ("RS256", "ES256", "EdDSA")


class InvalidToken(Exception):
    """The token cannot be trusted; the message says why (shown to the client)."""


@dataclass(frozen=True)
class User:
    id: UUID
    role: str
    claims: dict[str, Any]


class JwksCache:
    """The project's signing keys, fetched over HTTP and kept for a while."""

    def __init__(self, url: str, http: httpx.AsyncClient, ttl_seconds: int) -> None:
        self.url, self.http, self.ttl = url, http, ttl_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0

    async def _refresh(self) -> None:
        response = await self.http.get(self.url, timeout=5)
        response.raise_for_status()
        keyset = jwt.PyJWKSet.from_dict(response.json())
        self._keys = {key.key_id: key for key in keyset.keys if key.key_id}
        self._fetched_at = time.monotonic()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        stale = time.monotonic() - self._fetched_at > self.ttl
        if stale or kid not in self._keys:
            try:
                await self._refresh()
            except (httpx.HTTPError, jwt.PyJWKSetError, ValueError) as exc:
                raise InvalidToken(f"signing keys unavailable: {exc}") from exc
        if kid not in self._keys:
            raise InvalidToken("token signed with an unknown key")
        return self._keys[kid]


class TokenVerifier:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.jwks = JwksCache(settings.jwks_url, http, settings.jwks_cache_seconds) if settings.jwks_url else None

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
