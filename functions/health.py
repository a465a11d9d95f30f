"""/healthz: the process is alive. /readyz: the database answers and its schema is current."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from functions.deps import PoolDep
from openparty.migrate import migration_files

router = APIRouter(tags=["health"])
READY_TIMEOUT_SECONDS = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(pool: PoolDep) -> JSONResponse:
    expected = {version for version, _, _ in migration_files()}
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with pool.connection() as conn:
                rows = await conn.execute("select version from supabase_migrations.schema_migrations")
                applied = {row["version"] for row in await rows.fetchall()}
    except Exception as exc:  # any failure to reach the database means not ready
        return JSONResponse({"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"}, 503)
    missing = sorted(expected - applied)
    if missing:
        return JSONResponse({"status": "unavailable", "database": "ok", "pending_migrations": missing}, 503)
    return JSONResponse({"status": "ready", "database": "ok", "migrations": len(applied)})
