import asyncio
import uuid

import pytest
from django.conf import settings

from gateway.ratelimit import RateLimiter, parse_rate


def test_parse_rate():
    assert parse_rate("100/s") == (100, 1)
    assert parse_rate("600/min") == (600, 60)
    assert parse_rate("0") == (0, 1)
    with pytest.raises(ValueError, match="GATEWAY_RATE_LIMIT"):
        parse_rate("lots")


def test_limit_counts_per_client_in_redis():
    async def scenario():
        limiter = RateLimiter(settings.REDIS_URL, "3/min")
        client, other = f"test-{uuid.uuid4().hex}", f"test-{uuid.uuid4().hex}"
        try:
            first = [await limiter.retry_after(client) for _ in range(3)]
            return first, await limiter.retry_after(client), await limiter.retry_after(other)
        finally:
            await limiter.close()

    first, retry_after, other = asyncio.run(scenario())
    assert first == [None, None, None]
    assert retry_after is not None and 1 <= retry_after <= 60
    assert other is None


def test_limit_fails_open_when_redis_is_away():
    async def scenario():
        limiter = RateLimiter("redis://127.0.0.1:1/0", "1/min")
        return [await limiter.retry_after("someone") for _ in range(2)]

    assert asyncio.run(scenario()) == [None, None]
