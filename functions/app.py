"""The FastAPI application: `uvicorn functions.app:app`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from functions import account, health, money, spotify, webhooks
from functions.deps import request_validation_failed
from functions.openapi_docs import install_docs
from openparty.db import make_pool
from openparty.logs import configure_logging, init_error_reporting
from openparty.settings import Settings, get_settings
from openparty.spotify import SpotifyClient
from openparty.stripe_gateway import StripeGateway
from openparty.user_tokens import TokenVerifier

log = logging.getLogger("openparty.functions")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = make_pool(settings.edge_conninfo, settings, name="openparty-edge")
        await app.state.pool.open(wait=False)
        try:
            async with httpx.AsyncClient() as http:
                app.state.http = http
                app.state.token_verifier = TokenVerifier(settings, http)
                app.state.stripe = StripeGateway(settings) if settings.stripe_secret_key else None
                app.state.spotify = spotify_client_for(settings, http)
                yield
        finally:
            await app.state.pool.close()

    # Docs from local assets (install_docs), so /docs and /redoc work offline.
    app = FastAPI(title="OpenParty functions", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.add_exception_handler(RequestValidationError, request_validation_failed)
    app.include_router(health.router)
    app.include_router(webhooks.router)
    app.include_router(money.router)
    app.include_router(account.router)
    app.include_router(spotify.router)
    install_docs(app)
    return app


def spotify_client_for(settings: Settings, http: httpx.AsyncClient) -> SpotifyClient | None:
    if not settings.spotify_client_id:
        return None
    return SpotifyClient(http, client_id=settings.spotify_client_id, accounts_url=settings.spotify_accounts_url,
                         api_url=settings.spotify_api_url, timeout=settings.spotify_timeout_seconds)


def __getattr__(name: str) -> FastAPI:
    # `uvicorn functions.app:app` builds the app on first access, so importing
    # this module (tests) does not read the environment. That entry point also
    # sets up logging (OPENPARTY_LOG_FORMAT) and error reporting (OPENPARTY_SENTRY_DSN).
    if name == "app":
        settings = get_settings()
        configure_logging(settings)
        init_error_reporting(settings, "functions")
        return create_app(settings)
    raise AttributeError(name)
