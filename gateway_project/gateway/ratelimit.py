"""A fixed-window request limit per client, counted in Redis so every gateway copy shares it.

A few lines of INCR/EXPIRE rather than a library: it runs on the forwarding fast path, outside
Django's view layer, where DRF throttles (which live in views) cannot be used.
"""

import logging
import math
import time

import redis
import redis.asyncio

logger = logging.getLogger(__name__)

WINDOWS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(rate: str) -> tuple[int, int]:
    """Return (requests, window seconds) for "100/s", "600/min"...; (0, 1) means no limit."""
    if rate.strip() in ("", "0", "off"):
        return 0, 1
    count, _, unit = rate.partition("/")
    try:
        return int(count), WINDOWS[unit.strip().lower()]
    except (ValueError, KeyError):
        raise ValueError(
            f"GATEWAY_RATE_LIMIT={rate!r}: expected e.g. '100/s' or '600/min'"
        ) from None


class RateLimiter:
    """Allow `limit` requests per `window` seconds per client; fail open while Redis is away.

    Async (redis.asyncio): it runs on the gateway's event loop, where a blocking call would stall
    every connection. The client is made on first use, inside the loop that serves requests.
    """

    def __init__(self, redis_url: str, rate: str, *, pause_after_error: float = 5.0):
        self.limit, self.window = parse_rate(rate)
        self.redis_url = redis_url
        self.client: redis.asyncio.Redis | None = None
        self.pause_after_error = pause_after_error
        self._paused_until = 0.0

    async def retry_after(self, client_key: str) -> int | None:
        """Return None if the client may go on, else the seconds until its window resets."""
        if not self.limit:
            return None
        now = time.time()
        if now < self._paused_until:
            return None
        window_index = int(now // self.window)
        key = f"gateway:rl:{client_key}:{window_index}"
        if self.client is None:
            self.client = redis.asyncio.Redis.from_url(
                self.redis_url, socket_connect_timeout=0.2, socket_timeout=0.2
            )
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, self.window + 1)
            count = (await pipe.execute())[0]
        except (redis.RedisError, OSError) as exc:
            self._paused_until = now + self.pause_after_error
            logger.warning(
                "rate limit off for %ss: Redis unavailable (%s)", self.pause_after_error, exc
            )
            return None
        if count <= self.limit:
            return None
        return max(1, math.ceil((window_index + 1) * self.window - now))

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None
