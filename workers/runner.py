"""The scheduler: every job on an interval from settings, logged per run, safe
on several replicas (skip-locked claims, advisory locks), and a graceful stop
that lets the job in hand finish and gives back an unsent push batch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from openparty.db import make_pool
from openparty.settings import Settings
from openparty.spotify import SpotifyClient
from openparty.stripe_gateway import StripeGateway
from workers import accounts, analytics, artists, maintenance, music, push, ticks
from workers.context import JobContext, PushHealth, RateLimiter
from workers.expo import ExpoSender, LoggingSender, PushSender
from workers.health import serve_health

log = logging.getLogger("openparty.workers")
Job = Callable[[JobContext], Awaitable[int]]


def jobs_for(settings: Settings) -> dict[str, tuple[Job, float]]:
    return {
        "push_dispatch": (push.dispatch_push, settings.push_interval_seconds),
        "room_tick": (ticks.room_tick, settings.room_tick_seconds),
        "push_receipts": (push.check_receipts, settings.receipts_interval_seconds),
        "session_cleanup": (maintenance.cleanup, settings.cleanup_interval_seconds),
        "reconciliation": (maintenance.reconcile, settings.reconcile_interval_seconds),
        "account_deletion": (accounts.delete_accounts, settings.account_deletion_interval_seconds),
        "artist_payouts": (artists.run_payouts, settings.artist_payout_interval_seconds),
        "auto_advance": (music.auto_advance, settings.auto_advance_interval_seconds),
        "spotify_refresh": (music.spotify_refresh, settings.spotify_refresh_interval_seconds),
        "spotify_poll": (music.spotify_poll, settings.spotify_poll_tick_seconds),
        "room_events": (analytics.room_events, settings.room_events_interval_seconds),
        "creator_rollups": (analytics.creator_rollups, settings.creator_rollup_interval_seconds),
    }


class Runner:
    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.logged_idle: set[str] = set()  # jobs whose idle run was logged once already

    async def run(self, name: str, job: Job) -> int:
        """One logged run of a job: rows handled and duration."""
        self.in_flight += 1
        self.idle.clear()
        started = time.perf_counter()
        try:
            handled = await job(self.ctx)
            # A run that did something is logged; of idle runs only the first (proof the
            # job runs), the rest at DEBUG, so a quiet stack has a quiet log.
            level = logging.INFO if handled or name not in self.logged_idle else logging.DEBUG
            log.log(level, "worker.job name=%s rows=%s duration_ms=%.1f", name, handled,
                    (time.perf_counter() - started) * 1000)
            if not handled:
                self.logged_idle.add(name)
            else:
                self.logged_idle.discard(name)
            return handled
        except Exception:
            log.exception("worker.job_failed name=%s", name)
            return 0
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self.idle.set()


def make_context(settings: Settings, http: httpx.AsyncClient) -> JobContext:
    sender: PushSender
    if settings.expo_access_token is not None:
        sender = ExpoSender(http, settings.expo_push_url, settings.expo_receipts_url,
                            settings.expo_access_token.get_secret_value(), settings.expo_project)
        log.info("push.mode expo: sending to %s", settings.expo_push_url)
    else:
        sender = LoggingSender()
        log.info("push.mode logging: no OPENPARTY_EXPO_ACCESS_TOKEN, recording what would be sent")
    return JobContext(
        settings=settings,
        pool=make_pool(settings.worker_conninfo, settings, name="openparty-worker"),
        sender=sender,
        rate_limiter=RateLimiter(settings.push_rate_per_second),
        stripe=StripeGateway(settings) if settings.stripe_secret_key else None,
        worker_id=f"{socket.gethostname()}:{os.getpid()}",
        push_health=PushHealth(probe_seconds=settings.push_pause_probe_seconds),
        spotify=SpotifyClient(http, client_id=settings.spotify_client_id, accounts_url=settings.spotify_accounts_url,
                              api_url=settings.spotify_api_url, timeout=settings.spotify_timeout_seconds)
        if settings.spotify_client_id else None,
    )


async def run_forever(settings: Settings, stop_when: Callable[[], bool] | None = None,
                      stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    async with httpx.AsyncClient() as http:
        ctx = make_context(settings, http)
        await ctx.pool.open(wait=False)
        runner = Runner(ctx)
        scheduler = AsyncIOScheduler()
        for name, (job, seconds) in jobs_for(settings).items():
            scheduler.add_job(runner.run, "interval", args=[name, job], seconds=seconds, id=name, name=name,
                              max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
        health = (await serve_health(ctx.push_health, settings.worker_health_host, settings.worker_health_port)
                  if settings.worker_health_port is not None else None)
        scheduler.start()
        log.info("worker.started id=%s jobs=%s", ctx.worker_id, ", ".join(jobs_for(settings)))
        try:
            while not stop.is_set() and not (stop_when and stop_when()):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.5)
        finally:
            scheduler.pause()
            await runner.idle.wait()  # the job in hand finishes
            scheduler.shutdown(wait=False)
            if health is not None:
                health.close()
            released = await push.release_claims(ctx)
            await ctx.pool.close()
            log.info("worker.stopped id=%s released=%s", ctx.worker_id, released)

