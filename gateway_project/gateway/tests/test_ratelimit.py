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


def test_limit_counts_per_client():
    async def scenario():
        limiter = RateLimiter(settings.REDIS_URL, "3/min", sync_interval=0)
        client, other = f"test-{uuid.uuid4().hex}", f"test-{uuid.uuid4().hex}"
        try:
            first = [limiter.retry_after(client) for _ in range(3)]
            return first, limiter.retry_after(client), limiter.retry_after(other)
        finally:
            await limiter.close()

    first, retry_after, other = asyncio.run(scenario())
    assert first == [None, None, None]
    assert retry_after is not None and 1 <= retry_after <= 60
    assert other is None


def test_copies_share_their_counts_through_redis():
    async def scenario():
        copies = [RateLimiter(settings.REDIS_URL, "3/min", sync_interval=3600) for _ in range(2)]
        client = f"test-{uuid.uuid4().hex}"
        try:
            # Given two requests at the first copy, added to Redis
            assert [copies[0].retry_after(client) for _ in range(2)] == [None, None]
            await copies[0].sync()
            # When the second copy takes one and adds it, it learns the total (3)
            assert copies[1].retry_after(client) is None
            await copies[1].sync()
            # Then the next request at the second copy is over the limit
            return copies[1].retry_after(client)
        finally:
            for copy in copies:
                await copy.close()

    retry_after = asyncio.run(scenario())
    assert retry_after is not None and 1 <= retry_after <= 60


def test_limit_fails_open_when_redis_is_away():
    async def scenario():
        limiter = RateLimiter("redis://127.0.0.1:1/0", "1/min", sync_interval=3600)
        assert limiter.retry_after("someone") is None
        await limiter.sync()  # fails: the limit is off for a while
        assert limiter._paused_until > 0
        return [limiter.retry_after("someone") for _ in range(3)]

    assert asyncio.run(scenario()) == [None, None, None]
