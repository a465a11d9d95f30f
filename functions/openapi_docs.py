"""The API's documentation: every route's real answers and request bodies in
the OpenAPI document (routes that read their body themselves declare none to
FastAPI), and Swagger UI / ReDoc served from the app's own files (the assets
shipped by the `fastapi-offline` wheel), so /docs works offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from functions.webhooks import RevenueCatBody, StripeEvent

ASSETS = Path(fastapi_offline.__file__).parent / "static"


class ErrorBody(BaseModel):
    error: str
    message: str | None = None


class Refusal(BaseModel):
    """FastAPI's HTTPException shape, as our routes raise it."""

    detail: ErrorBody


class WebhookReceived(BaseModel):
    received: bool
    outcome: str


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


def _answer(description: str, model: type[BaseModel] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if model is not None:
        answer["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
    return answer


def refused(description: str) -> dict[str, Any]:
    return _answer(description, Refusal)


TOKEN = {"401": refused("no, invalid, expired, wrong-audience or wrong-issuer token (`invalid_token`), "
                        "or the token's user no longer exists (`refused`)")}
TOO_LARGE = {"413": refused("body larger than OPENPARTY_MAX_REQUEST_BODY_BYTES (`body_too_large`), not read")}
STRIPE_DOWN = {"502": refused("Stripe failed (`stripe_unavailable`): retry with the same request"),
               "503": refused("Stripe is not configured here (`not_configured`)")}
WEBHOOK_ANSWERS = {
    "200": _answer("applied, a duplicate, or deliberately ignored: `outcome` says which", WebhookReceived),
    "400": refused("bad or stale signature, or a body that is not an event (not UTF-8, not JSON, not the "
                   "event's shape); nothing recorded. Text Postgres cannot store (NUL, a lone surrogate) is not "
                   "refused: the body is kept as received and the event applied with that text cleaned"),
    "413": refused("body larger than OPENPARTY_MAX_WEBHOOK_BODY_BYTES (`body_too_large`)"),
    "500": _answer("recorded but not applicable yet (`apply_failed`): the provider's retry applies it", ErrorBody),
    "503": _answer("the database is unreachable (`database_unavailable`) or the endpoint is not configured "
                   "(`not_configured`): the provider retries", ErrorBody),
}
STRIPE_SIGNATURE = [{"name": "Stripe-Signature", "in": "header", "required": True,
                     "schema": {"type": "string"}, "description": "t=<unix time>,v1=<HMAC-SHA256 hex>[,v1=...]"}]

# Per path and method: the answers the route really gives, the request body
# when the route reads it itself, and headers it requires.
ROUTES: dict[tuple[str, str], dict[str, Any]] = {
    ("/healthz", "get"): {"responses": {"200": {"description": "the process is alive"}}},
    ("/readyz", "get"): {"responses": {
        "200": {"description": "`{\"status\": \"ready\"}`: the database answers and every migration is applied"},
        "503": {"description": "`{\"status\": \"unavailable\", \"reason\": \"not ready\"}`; the log says why"}}},
    ("/tips", "post"): {"responses": {
        **TOKEN,
        "403": refused("tips off for this session, not in the session, banned or blocked (`refused`)"),
        "404": refused("no such session (`refused`)"),
        "409": refused("session not live, the DJ cannot receive payouts yet, tipping yourself, or the "
                       "idempotency_key reused with other values (`refused`)"),
        **TOO_LARGE,
        "422": {"description": "bad body: currency (usd, eur, gbp), amount (1.00 to 500.00; 400.00 GBP), a "
                               "message with NUL or an unpaired surrogate; FastAPI's `{\"detail\": [...]}` or "
                               "`refused`"},
        **STRIPE_DOWN}},
    ("/dj/connect", "post"): {"responses": {
        **TOKEN, "403": refused("not a DJ (`refused`)"), **STRIPE_DOWN}},
    ("/checkout", "post"): {"responses": {
        **TOKEN, **TOO_LARGE,
        "422": {"description": "bad body: plan_id is not premium or dj_pro"},
        "502": STRIPE_DOWN["502"],
        "503": refused("Stripe, or a Stripe price for that plan, is not configured here (`not_configured`)")}},
    ("/billing/portal", "post"): {"responses": {
        **TOKEN,
        "409": refused("no web subscription yet: no Stripe customer (`no_stripe_customer`)"),
        **STRIPE_DOWN}},
    ("/dj/dashboard-link", "post"): {"responses": {
        **TOKEN, "403": refused("neither a DJ nor an artist (`refused`)"),
        "409": refused("no payout account yet (`no_payout_account`) or onboarding not finished "
                       "(`onboarding_incomplete`)"),
        "502": STRIPE_DOWN["502"], "503": STRIPE_DOWN["503"]}},
    ("/spotify/link", "post"): {"responses": {
        **TOKEN, **TOO_LARGE,
        "400": refused("Spotify refused the code (`invalid_grant`: invalid, used or expired; `refused`)"),
        "422": refused("bad body, or a redirect URI that is not registered (`bad_redirect_uri`)"),
        "502": refused("Spotify failed (`spotify_unavailable`): retry"),
        "503": refused("Spotify is not configured here (`not_configured`) or busy (`spotify_busy`, with "
                       "Retry-After)")}},
    ("/spotify/link", "delete"): {"responses": {**TOKEN}},
    ("/spotify/import", "post"): {"responses": {
        **TOKEN, **TOO_LARGE,
        "403": refused("a playlist you neither own nor collaborate on (`forbidden`)"),
        "404": refused("no such playlist (`not_found`)"),
        "409": refused("Spotify is not linked, or refused the link (`not_linked`)"),
        "422": refused("bad body, or not a playlist id, URL or spotify: URI (`bad_playlist`)"),
        "502": refused("Spotify failed (`spotify_unavailable`): retry"),
        "503": refused("Spotify is not configured here (`not_configured`) or busy (`spotify_busy`, with "
                       "Retry-After)")}},
    ("/account", "delete"): {"responses": {
        **TOKEN, **TOO_LARGE,
        "422": {"description": "the body is not `{\"confirm\": \"DELETE\"}`: nothing is deleted"}}},
    ("/account/export", "get"): {"responses": {**TOKEN}},
    ("/webhooks/stripe", "post"): {"responses": WEBHOOK_ANSWERS, "parameters": STRIPE_SIGNATURE,
                                   "body": StripeEvent},
    ("/webhooks/stripe-connect", "post"): {"responses": WEBHOOK_ANSWERS, "parameters": STRIPE_SIGNATURE,
                                           "body": StripeEvent},
    ("/webhooks/revenuecat", "post"): {
        "responses": {**WEBHOOK_ANSWERS,
                      "401": refused("Authorization header missing or not the configured value (`unauthorized`)")},
        "parameters": [{"name": "Authorization", "in": "header", "required": True, "schema": {"type": "string"},
                        "description": "the value set in RevenueCat's dashboard"}],
        "body": RevenueCatBody},
}
MODELS: list[type[BaseModel]] = [ErrorBody, Refusal, WebhookReceived]


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, completed with ROUTES (built once, then cached)."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in MODELS:
        schemas[model.__name__] = _schema(model)
    for (path, method), extra in ROUTES.items():
        operation = document.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            continue
        responses = operation.setdefault("responses", {})
        if path.startswith("/webhooks/"):
            responses.pop("422", None)  # webhooks answer a bad body with 400, never FastAPI's 422
        for code, answer in extra["responses"].items():
            responses[code] = {**responses.get(code, {}), **answer}
        if "parameters" in extra:
            names = {parameter["name"] for parameter in operation.get("parameters", [])}
            operation.setdefault("parameters", []).extend(p for p in extra["parameters"] if p["name"] not in names)
        if "body" in extra and "requestBody" not in operation:
            body_model: type[BaseModel] = extra["body"]
            schemas[body_model.__name__] = _schema(body_model)
            for name, definition in body_model.model_json_schema(ref_template="#/components/schemas/{model}").get(
                    "$defs", {}).items():
                schemas.setdefault(name, definition)
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{body_model.__name__}"}}}}
    app.openapi_schema = document
    return document


def install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc from local assets; the completed OpenAPI document."""
    app.mount("/static/docs", StaticFiles(directory=ASSETS), name="docs-assets")

    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - Swagger UI",
                                   swagger_js_url="/static/docs/swagger-ui-bundle.js",
                                   swagger_css_url="/static/docs/swagger-ui.css",
                                   swagger_favicon_url="/static/docs/favicon.png")

    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - ReDoc",
                              redoc_js_url="/static/docs/redoc.standalone.js",
                              redoc_favicon_url="/static/docs/favicon.png", with_google_fonts=False)

    app.add_api_route("/docs", swagger, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
