"""Dependencies shared by the routes: the pool, settings, the signed-in user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from openparty.db import Pool
from openparty.settings import Settings
from openparty.stripe_gateway import StripeGateway
from openparty.user_tokens import InvalidToken, TokenVerifier, User

bearer = HTTPBearer(auto_error=False)


def app_settings(request: Request) -> Settings:
    """The settings the app was created with (tests pass their own)."""
    settings: Settings = request.app.state.settings
    return settings


def get_pool(request: Request) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


def unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail={"error": "invalid_token", "message": message},
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("missing bearer token")
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        return await verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from exc


SettingsDep = Annotated[Settings, Depends(app_settings)]
PoolDep = Annotated[Pool, Depends(get_pool)]
UserDep = Annotated[User, Depends(current_user)]


def database_refusal(exc: Exception) -> HTTPException | None:
    """A rule in Postgres refused the request (SQLSTATE PTxyz): HTTP xyz, its message."""
    sqlstate = getattr(exc, "sqlstate", None) or ""
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        diag = getattr(exc, "diag", None)
        message = diag.message_primary if diag is not None else str(exc)
        return HTTPException(int(sqlstate[2:]), detail={"error": "refused", "message": message})
    return None


async def read_body_within(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) anything larger than limit without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail={"error": "body_too_large"})
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail={"error": "body_too_large"})
    return bytes(body)


def stripe_gateway(request: Request) -> StripeGateway:
    gateway: StripeGateway | None = request.app.state.stripe
    if gateway is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            detail={"error": "not_configured", "message": "Stripe is not configured"})
    return gateway
