"""Artist payouts: the monthly run (once a month has ended; running it again
changes nothing) and the Stripe Connect transfers of payable statements, each
with the statement's idempotency key, so retries and crashes pay once."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import stripe

from openparty import queries
from openparty.db import fetch_one
from workers.context import JobContext
from workers.maintenance import exclusive

log = logging.getLogger("openparty.artist_payouts")
ARTIST_PAYOUTS_LOCK = 7_246_513_104
TRANSFER_BATCH = 50
# Stripe errors worth retrying later (network, rate limits, Stripe's own
# failures, a platform balance too low for now); anything else fails the statement.
TRANSIENT = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)


def previous_month(today: date) -> date:
    return date(today.year - 1, 12, 1) if today.month == 1 else date(today.year, today.month - 1, 1)


async def run_payouts(ctx: JobContext, today: date | None = None) -> int:
    """Run last month's payouts once its grace days have passed, if not run yet
    (the SQL returns the stored run otherwise); then send the transfers."""
    s = ctx.settings
    month = previous_month((today or datetime.now(UTC).date()) - timedelta(days=s.artist_payout_grace_days))
    async with exclusive(ctx, ARTIST_PAYOUTS_LOCK) as conn:
        if conn is None:
            return 0
        run = await fetch_one(conn, queries.RUN_ARTIST_PAYOUTS, {
            "month": month, "currency": s.artist_payout_currency, "share_bps": s.artist_payout_share_bps,
            "model": s.artist_payout_model, "min_payout": s.artist_payout_min_amount})
        log.info("artist_payouts.run month=%s pool=%s streams=%s model=%s", run["month"], run["pool"], run["streams"],
                 run["model"])
    return await send_transfers(ctx)


async def send_transfers(ctx: JobContext) -> int:
    if ctx.stripe is None:
        return 0
    async with ctx.pool.connection() as conn:
        claimed = await (await conn.execute(queries.CLAIM_ARTIST_TRANSFERS, {
            "limit": TRANSFER_BATCH, "lease_seconds": ctx.settings.artist_transfer_lease_seconds})).fetchall()
    paid = 0
    for statement in claimed:
        transfer_id, error, permanent = None, None, False
        if statement["destination"] is None:
            error, permanent = "the artist has no payout account", True
        else:
            try:
                transfer = await ctx.stripe.artist_transfer(statement)
                transfer_id = transfer.id
            except stripe.InvalidRequestError as exc:
                error, permanent = f"{exc.code}: {exc.user_message or exc}", exc.code != "balance_insufficient"
            except TRANSIENT as exc:
                error = f"{type(exc).__name__}: {exc}"
            except stripe.StripeError as exc:
                error, permanent = f"{type(exc).__name__}: {exc}", True
        async with ctx.pool.connection() as conn:
            status = (await fetch_one(conn, queries.RECORD_ARTIST_TRANSFER, {
                "statement_id": statement["statement_id"], "transfer_id": transfer_id, "error": error,
                "permanent": permanent}))["status"]
        log.info("artist_payouts.transfer statement=%s status=%s transfer=%s error=%s", statement["statement_id"],
                 status, transfer_id, error)
        paid += transfer_id is not None
    return paid
