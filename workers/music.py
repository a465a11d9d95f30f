"""The music keeps playing: auto-advance, Spotify token refresh, and the
currently-playing poller. Each job is one SQL call per step (the rules are in
queue.sql and spotify.sql), bounded per run, and safe on several replicas:
auto-advance skips rooms another transaction holds; refresh claims tokens
under a lease with `skip locked`; the poller claims due DJs with `skip locked`
and spends the app's request budget under the budget row's lock."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from uuid import UUID

from openparty import queries
from openparty.db import fetch_one
from openparty.spotify import SpotifyError, SpotifyRateLimited, SpotifyUnauthorized
from openparty.spotify_links import refresh_link
from workers.context import JobContext

log = logging.getLogger("openparty.workers")
REFRESH_LEASE_SECONDS = 60


async def auto_advance(ctx: JobContext) -> int:
    """Advance every live room whose song ended (duration + grace) and nobody advanced."""
    s = ctx.settings
    async with ctx.pool.connection() as conn:
        row = await fetch_one(conn, queries.AUTO_ADVANCE,
                              {"grace_seconds": s.auto_advance_grace_seconds, "limit": s.auto_advance_batch_size})
    handled: int = row["handled"]
    return handled


async def spotify_refresh(ctx: JobContext) -> int:
    """Refresh the access tokens that expire soon; invalid_grant breaks the link."""
    if ctx.spotify is None:
        return 0
    s = ctx.settings
    async with ctx.pool.connection() as conn:
        claimed = await (await conn.execute(queries.SPOTIFY_REFRESH_CLAIM, {
            "ahead_seconds": s.spotify_refresh_ahead_seconds, "limit": s.spotify_poll_batch_size,
            "lease_seconds": REFRESH_LEASE_SECONDS})).fetchall()
        handled = 0
        for link in claimed:
            try:
                await refresh_link(conn, ctx.spotify, link["user_id"], link["refresh_token"])
                handled += 1
            except SpotifyRateLimited as exc:
                await conn.execute(queries.SPOTIFY_RATE_LIMITED, {"retry_after": exc.retry_after})
                log.warning("spotify.rate_limited retry_after=%s", exc.retry_after)
                break  # the leases run out; the next round retries
            except SpotifyError as exc:
                log.warning("spotify.refresh_failed user=%s error=%s", link["user_id"], exc)
        return handled


async def spotify_poll(ctx: JobContext) -> int:
    """Ask Spotify what each due DJ plays (a batch, a few at a time) and apply
    each answer; a 429 stops the round and blocks the app until Retry-After."""
    if ctx.spotify is None:
        return 0
    s = ctx.settings
    client = ctx.spotify
    async with ctx.pool.connection() as conn:
        due = await (await conn.execute(queries.SPOTIFY_POLL_CLAIM, {
            "interval_seconds": s.spotify_poll_interval_seconds, "limit": s.spotify_poll_batch_size,
            "budget": s.spotify_budget_per_window, "window_seconds": s.spotify_budget_window_seconds})).fetchall()
    if not due:
        return 0
    gate = asyncio.Semaphore(s.spotify_poll_concurrency)
    limited = asyncio.Event()

    async def ask(user_id: UUID, access_token: str) -> tuple[UUID, str, Any]:
        async with gate:
            if limited.is_set():
                return user_id, "skipped", None
            try:
                return user_id, "ok", await client.currently_playing(access_token)
            except SpotifyRateLimited as exc:
                limited.set()
                return user_id, "rate_limited", exc.retry_after
            except SpotifyUnauthorized:
                return user_id, "unauthorized", None
            except SpotifyError as exc:
                return user_id, "error", str(exc)

    answers = await asyncio.gather(*(ask(d["user_id"], d["access_token"]) for d in due))
    handled = 0
    async with ctx.pool.connection() as conn:
        for user_id, kind, value in answers:
            if kind == "ok":
                row = await fetch_one(conn, queries.SPOTIFY_APPLY_PLAYBACK, {
                    "user_id": user_id, "playback": None if value is None else json.dumps(value)})
                log.info("spotify.polled user=%s outcome=%s", user_id, row["outcome"])
                handled += 1
            elif kind == "rate_limited":
                await conn.execute(queries.SPOTIFY_RATE_LIMITED, {"retry_after": value})
                log.warning("spotify.rate_limited retry_after=%s", value)
            elif kind == "unauthorized":
                await conn.execute(queries.SPOTIFY_TOKEN_REJECTED, {"user_id": user_id})
                log.info("spotify.token_rejected user=%s", user_id)
            elif kind == "error":
                log.warning("spotify.poll_failed user=%s error=%s", user_id, value)
    return handled
