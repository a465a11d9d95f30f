"""Social jobs: the per-second room sweep (aggregated reactions, battle
tallies, expiring challenges, closing battle rounds) and the creator analytics rollup, each one
call of a SQL function. `python -m workers.analytics FROM TO` recomputes the
daily rollups of a range of days (a backfill; idempotent)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import date

from openparty import queries
from openparty.db import fetch_one, make_pool
from openparty.settings import get_settings
from workers.context import JobContext
from workers.maintenance import exclusive

log = logging.getLogger("openparty.workers")
ROLLUP_LOCK = 7_246_513_103


async def room_events(ctx: JobContext) -> int:
    """Every second: pending reactions and battle tallies are published (at
    most one event per room per second each), unanswered challenges expire and
    battle rounds whose time is up close. Everything for a room goes through
    `private.room_publish`: a small room gets it at once, a large room with its
    next `room_batch` (the `room_tick` job). Safe on several replicas (event
    gates and row locks are skip-locked)."""
    async with ctx.pool.connection() as conn:
        handled: int = (await fetch_one(conn, queries.ROOM_EVENTS_TICK,
                                        {"limit": ctx.settings.room_events_batch_size}))["handled"]
        return handled


async def creator_rollups(ctx: JobContext) -> int:
    """Recompute the DJs' daily rollups: catch up from where it stopped (at most
    `creator_rollup_max_days` days a run), then yesterday and today every run."""
    async with exclusive(ctx, ROLLUP_LOCK) as conn:
        if conn is None:
            return 0
        handled: int = (await fetch_one(conn, queries.ROLLUP_CREATOR_ANALYTICS,
                                        {"max_days": ctx.settings.creator_rollup_max_days}))["handled"]
        return handled


async def backfill(from_day: date, to_day: date) -> int:
    settings = get_settings()
    pool = make_pool(settings.worker_conninfo, settings, name="openparty-backfill")
    await pool.open()
    try:
        async with pool.connection() as conn:
            handled: int = (await fetch_one(conn, queries.ROLLUP_DJ_DAYS,
                                            {"from_day": from_day, "to_day": to_day}))["handled"]
    finally:
        await pool.close()
    log.info("analytics.backfill from=%s to=%s rows=%s", from_day, to_day, handled)
    return handled


def main() -> None:
    parser = argparse.ArgumentParser(description="Recompute creator analytics for a range of UTC days.")
    parser.add_argument("from_day", type=date.fromisoformat)
    parser.add_argument("to_day", type=date.fromisoformat)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(backfill(args.from_day, args.to_day))


if __name__ == "__main__":
    main()
