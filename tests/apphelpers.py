"""Building the FastAPI app against a test database, and minting Supabase-shaped JWTs."""

from __future__ import annotations

import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
from fastapi import FastAPI

from functions.app import create_app
from openparty.settings import Settings

JWT_SECRET = "test-jwt-secret-with-at-least-32-characters"
SUPABASE_URL = "https://project-ref.supabase.co"


def settings_for(db, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db.url(),
        "edge_database_url": db.url("openparty_edge"),
        "worker_database_url": db.url("openparty_worker"),
        "supabase_url": SUPABASE_URL,
        "supabase_jwt_secret": JWT_SECRET,
        "db_pool_max_size": 4,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def user_token(user_id: uuid.UUID, *, secret: str = JWT_SECRET, expires_in: int = 3600,
               audience: str = "authenticated", role: str = "authenticated", **claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": str(user_id), "aud": audience, "role": role, "iat": now, "exp": now + expires_in,
               "iss": f"{SUPABASE_URL}/auth/v1", "email": "user@example.test", **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


@asynccontextmanager
async def running_app(app: FastAPI):
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://functions.test") as client:
            yield client


@asynccontextmanager
async def client_for(db, **overrides: Any):
    async with running_app(create_app(settings_for(db, **overrides))) as client:
        yield client
