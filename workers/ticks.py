"""The room ticker: every tick, one call of private.room_tick sends each large
room's pending changes as one `room_batch` broadcast (README "Room ticks").
Safe on several replicas (rooms are claimed with `for update skip locked`, and
a room is flushed at most once per tick whatever the number of replicas),
bounded per run (rooms and changes per room), and all or nothing: a ticker
that dies mid-run rolls back, so nothing pending is lost."""

from __future__ import annotations

from openparty import queries
from openparty.db import fetch_one
from workers.context import JobContext

# A room is due again after 90 % of a tick: a run that starts a little early
# still flushes it, and two replicas cannot both flush it within one tick.
DUE_FRACTION = 0.9


async def room_tick(ctx: JobContext) -> int:
    s = ctx.settings
    async with ctx.pool.connection() as conn:
        row = await fetch_one(conn, queries.ROOM_TICK, {
            "min_interval_seconds": s.room_tick_seconds * DUE_FRACTION,
            "max_rooms": s.room_tick_max_rooms, "max_changes": s.room_tick_max_changes})
        handled: int = row["handled"]
        return handled
