"""What every job gets: settings, the worker's pool, the push sender, Stripe."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from openparty.db import Pool
from openparty.settings import Settings
from openparty.stripe_gateway import StripeGateway
from openparty.supabase_admin import SupabaseAdmin
from workers.expo import PushSender

T = TypeVar("T")


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


def batched(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])
