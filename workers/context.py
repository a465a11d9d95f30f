"""What every job gets: settings, the worker's pool, the push sender, Stripe."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from openparty.db import Pool
from openparty.settings import Settings
from openparty.spotify import SpotifyClient
from openparty.stripe_gateway import StripeGateway
from openparty.supabase_admin import SupabaseAdmin
from workers.expo import PushSender

T = TypeVar("T")
log = logging.getLogger("openparty.push")


@dataclass
class PushHealth:
    """Whether push dispatch may run: paused while Expo refuses the access
    token (a configuration fault; nothing is spent meanwhile). The workers'
    /readyz reports it; the dispatcher probes with one request every
    probe_seconds and resumes when Expo takes it."""
    probe_seconds: float = 60
    paused_reason: str | None = None
    next_probe: float = 0.0

    @property
    def ready(self) -> bool:
        return self.paused_reason is None

    def may_send(self) -> bool:
        return self.paused_reason is None or time.monotonic() >= self.next_probe

    def pause(self, reason: str) -> None:
        if self.paused_reason is None:
            log.error("push.paused reason=%s: fix OPENPARTY_EXPO_ACCESS_TOKEN; nothing is spent meanwhile", reason)
        else:
            log.error("push.still_paused reason=%s", reason)
        self.paused_reason = reason
        self.next_probe = time.monotonic() + self.probe_seconds

    def resume(self) -> None:
        if self.paused_reason is not None:
            log.warning("push.resumed after=%s", self.paused_reason)
        self.paused_reason = None


class RateLimiter:
    """A token bucket: `rate` messages a second on average, bursting to one
    request's worth (100 messages) at most."""

    def __init__(self, rate: float, burst: float = 100) -> None:
        self.rate = rate
        self.capacity = min(rate, burst)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self, n: int) -> None:
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= n:
                    self.tokens -= n
                    return
                await asyncio.sleep((n - self.tokens) / self.rate)


@dataclass
class JobContext:
    settings: Settings
    pool: Pool
    sender: PushSender
    rate_limiter: RateLimiter
    stripe: StripeGateway | None
    worker_id: str
    supabase: SupabaseAdmin | None = None  # made on first use by the account deletion job
    push_health: PushHealth = field(default_factory=PushHealth)
    spotify: SpotifyClient | None = None


def batched(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])
