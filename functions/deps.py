"""Dependencies shared by the routes: the pool, settings, the signed-in user."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ValidationError

from openparty.db import Pool
from openparty.settings import Settings
from openparty.stripe_gateway import StripeGateway
from openparty.user_tokens import InvalidToken, TokenVerifier, User

bearer = HTTPBearer(auto_error=False)
M = TypeVar("M", bound=BaseModel)


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


def postgres_text_problem(value: object) -> str | None:
    """Why Postgres would refuse this decoded JSON (text and jsonb reject NUL,
    UTF-8 cannot encode a lone surrogate), or None when it can be stored."""
    if isinstance(value, str):
        if "\x00" in value:
            return "text contains NUL (\\u0000)"
        if any("\ud800" <= char <= "\udfff" for char in value):
            return "text contains an unpaired surrogate"
        return None
    if isinstance(value, dict):
        items: list[object] = [*value.keys(), *value.values()]
        return next((problem for item in items if (problem := postgres_text_problem(item))), None)
    if isinstance(value, list):
        return next((problem for item in value if (problem := postgres_text_problem(item))), None)
    return None


def storable(value: object) -> object:
    """The decoded JSON made storable in Postgres: NUL removed from every string
    (keys included), each lone surrogate replaced by U+FFFD."""
    if isinstance(value, str):
        if postgres_text_problem(value) is None:
            return value
        return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in value.replace("\x00", ""))
    if isinstance(value, dict):
        return {str(storable(key)): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def _storable_text(value: str) -> str:
    problem = postgres_text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# Free text the app sends that ends up in Postgres: NUL and lone surrogates are a 422.
StorableText = Annotated[str, AfterValidator(_storable_text)]


def _json_safe(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_json_safe(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


async def request_validation_failed(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, with every string made encodable: an error echoes the input,
    and a lone surrogate in it would otherwise fail while rendering (a 500)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": _json_safe(jsonable_encoder(_json_safe(errors)))}, status.HTTP_422_UNPROCESSABLE_CONTENT)


def authenticated_json(model: type[M]) -> Callable[..., Awaitable[M]]:
    """A dependency: the body as `model`, read only once the caller is signed in
    (anonymous: 401, never 422) and only up to max_request_body_bytes (413)."""

    async def parse(request: Request, user: UserDep, settings: SettingsDep) -> M:
        raw = await read_body_within(request, settings.max_request_body_bytes)
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
            raise RequestValidationError(errors) from exc

    return parse


def stripe_gateway(request: Request) -> StripeGateway:
    gateway: StripeGateway | None = request.app.state.stripe
    if gateway is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            detail={"error": "not_configured", "message": "Stripe is not configured"})
    return gateway


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: _inline_refs(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    return node


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """The request body in the OpenAPI document (the routes read it themselves),
    its $defs inlined: a '#/$defs/...' reference means nothing in the document."""
    schema = model.model_json_schema()
    schema = _inline_refs(schema, schema.pop("$defs", {}))
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def maybe_row(pool: Pool, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Run one private function; a rule's refusal becomes its HTTP error."""
    try:
        async with pool.connection() as conn:
            return await (await conn.execute(query, params)).fetchone()
    except psycopg.Error as exc:
        refusal = database_refusal(exc)
        if refusal is not None:
            raise refusal from exc
        raise


async def one_row(pool: Pool, query: str, params: dict[str, Any]) -> dict[str, Any]:
    """As maybe_row, for the functions that always return a row."""
    row = await maybe_row(pool, query, params)
    if row is None:
        raise LookupError("the function returned no row")
    return row
