"""Cleanup and reconciliation jobs: each one call of a SQL function per step,
in bounded batches. One-at-a-time jobs hold a session advisory lock, so a
second replica skips the round instead of doing the same work."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import stripe

from openparty import queries
from openparty.db import Connection, fetch_one
from workers.context import JobContext

log = logging.getLogger("openparty.workers")
CLEANUP_LOCK = 7_246_513_101
RECONCILE_LOCK = 7_246_513_102


@asynccontextmanager
async def exclusive(ctx: JobContext, key: int) -> AsyncIterator[Connection | None]:
    """A connection holding advisory lock `key`, or None if another replica has it."""
    async with ctx.pool.connection() as conn:
        got = (await fetch_one(conn, "select pg_try_advisory_lock(%(key)s) as got", {"key": key}))["got"]
        if not got:
            yield None
            return
        try:
            yield conn
        finally:
            await conn.execute("select pg_advisory_unlock(%(key)s)", {"key": key})


async def _handled(conn: Connection, query: str, params: dict[str, Any]) -> int:
    handled: int = (await fetch_one(conn, query, params))["handled"]
    return handled


async def cleanup(ctx: JobContext) -> int:
    s = ctx.settings
    limit = s.cleanup_batch_size
    async with exclusive(ctx, CLEANUP_LOCK) as conn:
        if conn is None:
            return 0
        steps = [
            (queries.END_SILENT_SESSIONS, {"seconds": s.heartbeat_timeout_seconds, "limit": limit}),
            (queries.END_ABANDONED_SESSIONS, {"minutes": s.abandoned_after_minutes, "limit": limit}),
            (queries.END_STALE_SCHEDULED, {"hours": s.scheduled_grace_hours, "limit": limit}),
            (queries.CLOSE_IDLE_PARTICIPATIONS, {"minutes": s.participant_idle_minutes, "limit": limit}),
            (queries.ENQUEUE_SESSION_REMINDERS, {"minutes": s.reminder_lead_minutes, "limit": limit}),
            (queries.PURGE_NOTIFICATIONS, {"days": s.notification_retention_days, "limit": limit}),
        ]
        return sum([await _handled(conn, query, params) for query, params in steps])


async def reconcile(ctx: JobContext) -> int:
    """Tips stuck pending are checked against Stripe; expired entitlements are marked."""
    s = ctx.settings
    async with exclusive(ctx, RECONCILE_LOCK) as conn:
        if conn is None:
            return 0
        handled = await _handled(conn, queries.CANCEL_UNSUBMITTED_TIPS,
                                 {"minutes": s.reconcile_pending_tip_minutes, "limit": s.cleanup_batch_size})
        handled += await _handled(conn, queries.EXPIRE_ENTITLEMENTS, {"limit": s.cleanup_batch_size})
        if ctx.stripe is None:
            return handled
        stale = await (await conn.execute(queries.STALE_PENDING_TIPS, {
            "minutes": s.reconcile_pending_tip_minutes, "limit": s.reconcile_batch_size})).fetchall()
        for tip in stale:
            try:
                intent = await ctx.stripe.retrieve_payment_intent(tip["payment_intent_id"])
                outcome = await _reconcile(conn, intent, s.reconcile_abandon_tip_minutes)
                if outcome == "abandoned":
                    # Cancel at Stripe, then apply what Stripe answers: a payer
                    # who completed it meanwhile gets Stripe's refusal, not a canceled tip.
                    intent = await ctx.stripe.cancel_payment_intent(tip["payment_intent_id"])
                    outcome = await _reconcile(conn, intent, s.reconcile_abandon_tip_minutes)
            except stripe.StripeError as exc:
                log.warning("reconcile.tip_unavailable tip=%s error=%s", tip["tip_id"], exc)
                continue
            log.info("reconcile.tip tip=%s outcome=%s", tip["tip_id"], outcome)
            handled += 1
        return handled


async def _reconcile(conn: Connection, intent: stripe.PaymentIntent, abandon_minutes: int) -> str:
    row = await fetch_one(conn, queries.RECONCILE_PAYMENT_INTENT,
                          {"payment_intent": stripe_json(intent), "abandon_minutes": abandon_minutes})
    outcome: str = row["outcome"]
    return outcome


def stripe_json(obj: stripe.StripeObject) -> str:
    return json.dumps(obj.to_dict())
