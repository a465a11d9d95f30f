"""Building a worker's job context against a test database and a fake Expo."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.apphelpers import settings_for
from workers.runner import make_context


@asynccontextmanager
async def worker_context(db, expo=None, worker_id: str = "test-worker", **overrides: Any):
    values: dict[str, Any] = {"push_backoff_seconds": 30, "push_lease_seconds": 60}
    if expo is not None:
        values |= {"expo_access_token": "expo-test-token", "expo_push_url": f"{expo.base}/push/send",
                   "expo_receipts_url": f"{expo.base}/push/getReceipts"}
    values |= overrides
    settings = settings_for(db, **values)
    async with httpx.AsyncClient() as http:
        ctx = make_context(settings, http)
        ctx.worker_id = worker_id
        await ctx.pool.open()
        try:
            yield ctx
        finally:
            await ctx.pool.close()


def token_for(n: int | str) -> str:
    return f"ExponentPushToken[device-{n}]"


def register(db, user_id, token: str, platform: str = "ios"):
    return db.as_user(user_id).rpc_rows("register_push_token", p_token=token, p_platform=platform)[0]


def outbox(db, **where) -> list[dict]:
    clause = " and ".join(f"{k} = %({k})s" for k in where) or "true"
    cur = db.admin.execute(f"select * from private.notification_outbox where {clause} order by id", where)
    columns = [c.name for c in cur.description]
    return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def enqueue(db, user_ids, kind="moderation", title="Hello", body="World", key=None) -> int:
    return db.admin.execute(
        "select private.enqueue_notifications(%s, %s, %s, %s, '{}'::jsonb, %s)",
        (list(user_ids), kind, title, body, key or f"test:{title}")).fetchone()[0]
