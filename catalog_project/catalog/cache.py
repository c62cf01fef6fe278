"""Redis cache of the restaurant list pages and restaurant details (django-redis, TTL 60 s).

Keys, under the cache's KEY_PREFIX (`catalog:1:` in production, unique per test run in tests):

    restaurants:list:version                  token of the current list namespace (TTL 1 h)
    restaurants:list:<token>:<sha256(query)>  one list page/filter combination (TTL 60 s)
    restaurant:<id>:version                   token of restaurant <id>'s detail (TTL 1 h)
    restaurant:<id>:<token>                   its detail with the menu (TTL 60 s)

A token is random, never reused. Invalidating the list replaces the list token, so every cached page
becomes unreachable at once; invalidating a restaurant replaces its token and deletes its one detail
key. A reader reads the token *before* it queries the database and stores only under that token,
so a reader that saw the rows from before a write can never make them visible again after the
write's invalidation: its entry lands under a token nobody looks up any more. A version key that
expires or is evicted is simply re-created with a fresh token, which is an invalidation too.

Invalidation runs after the transaction commits (`transaction.on_commit`), from the `post_save` and
`post_delete` handlers in `catalog/signals.py`, so every write through the ORM's instance methods
invalidates: the API, the Django admin (forms, inlines, the delete action), shell edits, and the
deletes that cascade from a restaurant to its menu items. Menu items appear only in the detail,
so an item write invalidates only its restaurant's detail.

Writes that send no signals and therefore invalidate nothing: `QuerySet.update()`, `bulk_create()`,
`bulk_update()`, raw SQL (and `TRUNCATE`), `loaddata` into another process' database. The project's
own code uses none of them on these models except `manage.py seed_catalog`, which calls
`invalidate_everything()` itself once its transaction has committed. Whoever adds such a write must
do the same; the 60 s TTL bounds the damage if they forget.

If Redis does not answer (0.5 s socket timeouts in settings), reads answer from the database with
`X-Cache: BYPASS` and writes still succeed: the failed invalidation is logged, never raised.
"""

import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from enum import StrEnum
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

ENTRY_TTL = 60
VERSION_TTL = 3600
LIST_VERSION_KEY = "restaurants:list:version"
CACHE_ERRORS = (RedisError, ConnectionInterrupted, OSError)


class CacheStatus(StrEnum):
    """Value of the `X-Cache` response header."""

    HIT = "HIT"
    MISS = "MISS"
    BYPASS = "BYPASS"
    OFF = "OFF"  # CATALOG_CACHE_ENABLED is off (to measure what the cache gains)


def _detail_version_key(restaurant_id: int) -> str:
    return f"restaurant:{restaurant_id}:version"


def _current_token(version_key: str) -> str:
    token = cache.get(version_key)
    if token is None:
        candidate = secrets.token_hex(8)
        cache.add(version_key, candidate, VERSION_TTL)  # first reader wins the race
        token = cache.get(version_key) or candidate
    return token


def _read_through(
    version_key: str, entry_key: Callable[[str], str], build: Callable[[], Any]
) -> tuple[Any, CacheStatus]:
    if not settings.CATALOG_CACHE_ENABLED:
        return build(), CacheStatus.OFF
    try:
        key = entry_key(_current_token(version_key))
        data = cache.get(key)
    except CACHE_ERRORS as exc:
        logger.warning("cache unavailable, reading from the database: %s", exc)
        return build(), CacheStatus.BYPASS
    if data is not None:
        return data, CacheStatus.HIT
    data = build()
    try:
        cache.set(key, data, ENTRY_TTL)
    except CACHE_ERRORS as exc:
        logger.warning("cache unavailable, response not stored: %s", exc)
    return data, CacheStatus.MISS


def list_page(query: dict, build: Callable[[], Any]) -> tuple[Any, CacheStatus]:
    """Return a list page (from the cache or `build()`) and how it was served.

    `query` must hold everything the page depends on (the query parameters as sent, base URL).
    """
    digest = hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()
    return _read_through(
        LIST_VERSION_KEY, lambda token: f"restaurants:list:{token}:{digest}", build
    )


def restaurant_detail(restaurant_id: int, build: Callable[[], Any]) -> tuple[Any, CacheStatus]:
    """Return a restaurant's detail (from the cache or `build()`) and how it was served."""
    return _read_through(
        _detail_version_key(restaurant_id),
        lambda token: f"restaurant:{restaurant_id}:{token}",
        build,
    )


def invalidate(*, restaurant_id: int | None = None, lists: bool = True) -> None:
    """Make the list pages (if `lists`) and one restaurant's detail unreachable; never raise."""
    try:
        if lists:
            cache.set(LIST_VERSION_KEY, secrets.token_hex(8), VERSION_TTL)
        if restaurant_id is not None:
            version_key = _detail_version_key(restaurant_id)
            old_token = cache.get(version_key)
            cache.set(version_key, secrets.token_hex(8), VERSION_TTL)
            if old_token is not None:
                cache.delete(f"restaurant:{restaurant_id}:{old_token}")
    except CACHE_ERRORS as exc:
        logger.error("cache invalidation failed (restaurant %s): %s", restaurant_id, exc)


def invalidate_on_commit(*, restaurant_id: int, lists: bool, using: str | None = None) -> None:
    """Schedule `invalidate(...)` for when the current transaction commits (now if none is open)."""
    transaction.on_commit(
        partial(invalidate, restaurant_id=restaurant_id, lists=lists), using=using, robust=True
    )


def invalidate_everything() -> None:
    """Drop every list page and every detail (after writes that bypass signals); never raise."""
    try:
        cache.set(LIST_VERSION_KEY, secrets.token_hex(8), VERSION_TTL)
        cache.delete_pattern("restaurant:*")
    except CACHE_ERRORS as exc:
        logger.error("cache invalidation failed (everything): %s", exc)
