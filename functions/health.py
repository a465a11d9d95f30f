"""/healthz: the process is alive. /readyz: the database answers and its schema is current."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from functions.deps import PoolDep
from openparty.migrate import migration_files

log = logging.getLogger("openparty.health")
router = APIRouter(tags=["health"])
READY_TIMEOUT_SECONDS = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def not_ready() -> JSONResponse:
    """Anyone may ask: the answer says not ready, the log says why (versions,
    errors and their classes tell an outsider what we run)."""
    return JSONResponse({"status": "unavailable", "reason": "not ready"}, 503)


@router.get("/readyz")
async def readyz(pool: PoolDep) -> JSONResponse:
    expected = {version for version, _, _ in migration_files()}
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with pool.connection() as conn:
                rows = await conn.execute("select version from supabase_migrations.schema_migrations")
                applied = {row["version"] for row in await rows.fetchall()}
    except Exception as exc:  # any failure to reach the database means not ready
        log.warning("health.not_ready reason=database_unreachable error=%s: %s", type(exc).__name__, exc)
        return not_ready()
    missing = sorted(expected - applied)
    if missing:
        log.warning("health.not_ready reason=pending_migrations versions=%s", ",".join(missing))
        return not_ready()
    return JSONResponse({"status": "ready"})
