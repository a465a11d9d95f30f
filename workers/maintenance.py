"""Cleanup and reconciliation jobs: each one call of a SQL function per step,
in bounded batches. One-at-a-time jobs hold a session advisory lock, so a
second replica skips the round instead of doing the same work."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import stripe

from openparty import queries
from openparty.db import Connection, fetch_one
from openparty.settings import Settings
from openparty.stripe_gateway import StripeGateway
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
        handled = await _handled(conn, queries.EXPIRE_ENTITLEMENTS, {"limit": s.cleanup_batch_size})
        if ctx.stripe is None:
            # Nobody to ask whether a tip without a PaymentIntent reached Stripe.
            return handled + await _handled(conn, queries.CANCEL_UNSUBMITTED_TIPS, {
                "minutes": s.reconcile_pending_tip_minutes, "limit": s.cleanup_batch_size})
        claim = {"minutes": s.reconcile_pending_tip_minutes, "limit": s.reconcile_batch_size}
        for tip in await (await conn.execute(queries.UNATTACHED_PENDING_TIPS, claim)).fetchall():
            handled += await _reconcile_tip(ctx.stripe, ctx.settings, conn, tip["tip_id"], None)
        for tip in await (await conn.execute(queries.STALE_PENDING_TIPS, claim)).fetchall():
            handled += await _reconcile_tip(ctx.stripe, ctx.settings, conn, tip["tip_id"], tip["payment_intent_id"])
        return handled


async def _reconcile_tip(gateway: StripeGateway, settings: Settings, conn: Connection, tip_id: UUID,
                         payment_intent_id: str | None) -> int:
    """Check one pending tip at Stripe: 1 when an outcome was recorded, 0 when Stripe failed (next round)."""
    abandon = settings.reconcile_abandon_tip_minutes
    try:
        if payment_intent_id is None:  # create-tip may have made one and failed before storing it
            found = await gateway.find_tip_payment_intent(tip_id)
            row = await fetch_one(conn, queries.RECONCILE_UNATTACHED_TIP, {
                "tip_id": tip_id, "payment_intent": stripe_json(found) if found else None, "abandon_minutes": abandon})
            outcome: str = row["outcome"]
            payment_intent_id = found.id if found else None
        else:
            intent = await gateway.retrieve_payment_intent(payment_intent_id)
            outcome = await _reconcile(conn, intent, abandon)
        if outcome == "abandoned" and payment_intent_id is not None:
            # Cancel at Stripe, then apply what Stripe answers: a payer who
            # completed it meanwhile gets Stripe's refusal, not a canceled tip.
            intent = await gateway.cancel_payment_intent(payment_intent_id)
            outcome = await _reconcile(conn, intent, abandon)
    except stripe.StripeError as exc:
        log.warning("reconcile.tip_unavailable tip=%s error=%s", tip_id, exc)
        return 0
    log.info("reconcile.tip tip=%s outcome=%s", tip_id, outcome)
    return 1


async def _reconcile(conn: Connection, intent: stripe.PaymentIntent, abandon_minutes: int) -> str:
    row = await fetch_one(conn, queries.RECONCILE_PAYMENT_INTENT,
                          {"payment_intent": stripe_json(intent), "abandon_minutes": abandon_minutes})
    outcome: str = row["outcome"]
    return outcome


def stripe_json(obj: stripe.StripeObject) -> str:
    return json.dumps(obj.to_dict())
