"""Push dispatch and receipts: claim with a lease, send in batches of 100 under
a rate cap, record every outcome, settle with backoff."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from openparty import queries
from openparty.db import fetch_one
from workers.context import JobContext, batched
from workers.expo import (
    MAX_MESSAGES_PER_REQUEST,
    MAX_RECEIPT_IDS_PER_REQUEST,
    AccessTokenRefused,
    Delivery,
    outcome,
    receipt_record,
)

log = logging.getLogger("openparty.push")


async def dispatch_push(ctx: JobContext) -> int:
    """One round: claim due notifications, send them, record and settle. While
    Expo refuses the access token, a round is one probe every
    push_pause_probe_seconds; a refused batch is given back unspent."""
    settings = ctx.settings
    if not ctx.push_health.may_send():
        return 0
    async with ctx.pool.connection() as conn:
        rows = await (await conn.execute(queries.PUSH_CLAIM, {
            "worker": ctx.worker_id, "limit": settings.push_claim_size,
            "lease_seconds": settings.push_lease_seconds})).fetchall()
    if not rows:
        return 0
    deliveries = [Delivery(r["delivery_id"], r["token"], r["title"], r["body"], r["data"], r["at_least_once"])
                  for r in rows]
    outbox_ids = sorted({r["outbox_id"] for r in rows})
    chunk_size = max(1, min(MAX_MESSAGES_PER_REQUEST, int(settings.push_rate_per_second)))
    sent = 0
    for chunk in batched(deliveries, chunk_size):
        chunk = list(chunk)
        await ctx.rate_limiter.acquire(len(chunk))
        async with ctx.pool.connection() as conn:
            await conn.execute(queries.PUSH_MARK_SENDING, {"delivery_ids": [d.delivery_id for d in chunk]})
        try:
            results = await ctx.sender.send(chunk)
        except AccessTokenRefused as exc:
            ctx.push_health.pause(str(exc))
            async with ctx.pool.connection() as conn:  # not sent: queued again, and the claims given back
                await conn.execute(queries.PUSH_RECORD, {"results": json.dumps(
                    [outcome(d, "queued", error=f"paused: {exc}") for d in chunk])})
            released = await release_claims(ctx)
            log.error("push.batch_given_back notifications=%s", released)
            return sent
        ctx.push_health.resume()
        sent += len(chunk)
        async with ctx.pool.connection() as conn:
            await conn.execute(queries.PUSH_RECORD, {"results": json.dumps(results)})
    async with ctx.pool.connection() as conn:
        await conn.execute(queries.PUSH_SETTLE, {"outbox_ids": outbox_ids, "max_attempts": settings.push_max_attempts,
                                                 "backoff_seconds": settings.push_backoff_seconds})
    return len(deliveries)


async def check_receipts(ctx: JobContext) -> int:
    """Fetch receipts for tickets older than ~15 min; record them (tokens Expo
    says are gone get disabled; MessageRateExceeded is sent again after a backoff)."""
    if not ctx.push_health.ready:
        return 0
    async with ctx.pool.connection() as conn:
        due = await (await conn.execute(queries.PUSH_RECEIPTS_DUE, {
            "min_age_minutes": ctx.settings.receipts_min_age_minutes,
            "limit": 5 * MAX_RECEIPT_IDS_PER_REQUEST})).fetchall()
    handled = 0
    now = datetime.now(UTC)
    for chunk in batched(due, MAX_RECEIPT_IDS_PER_REQUEST):
        try:
            found = await ctx.sender.receipts([row["ticket_id"] for row in chunk])
        except AccessTokenRefused as exc:
            ctx.push_health.pause(str(exc))
            return handled
        receipts = [record for row in chunk
                    if (record := receipt_record(row["ticket_id"], found.get(row["ticket_id"]), row["sent_at"], now))]
        if receipts:
            async with ctx.pool.connection() as conn:
                await conn.execute(queries.PUSH_RECORD_RECEIPTS, {
                    "receipts": json.dumps(receipts), "max_attempts": ctx.settings.push_max_attempts,
                    "backoff_seconds": ctx.settings.push_backoff_seconds})
        handled += len(receipts)
    return handled


async def release_claims(ctx: JobContext) -> int:
    """On shutdown: give back notifications claimed but not handed to Expo."""
    async with ctx.pool.connection() as conn:
        released: int = (await fetch_one(conn, queries.PUSH_RELEASE, {"worker": ctx.worker_id}))["released"]
        return released
