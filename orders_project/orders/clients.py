"""The catalog as the orders service sees it: one call that prices the lines of an order.

`catalog_client()` builds the HTTP client once per process. Anything with the same `menu_items`
method can stand in for it (`order_place(catalog=...)`, or monkeypatch `catalog_client` in tests).
"""

from collections.abc import Iterable
from functools import lru_cache
from typing import Protocol

from django.conf import settings

from food_common.http import ServiceClient, UpstreamBadAnswer


class RestaurantNotFound(Exception):
    """The catalog has no restaurant with this id."""


# What the catalog answered could not be used (the shared client raises it).
CatalogBadAnswer = UpstreamBadAnswer


class Catalog(Protocol):
    def menu_items(self, *, restaurant_id: int, ids: Iterable[int], token: str | None) -> dict:
        """Return the catalog's menu answer for these item ids (see CatalogClient.menu_items)."""
        ...


class CatalogClient:
    """The catalog service over HTTP (round-robin over its copies, with circuit breakers)."""

    def __init__(self, service: ServiceClient):
        self.service = service

    def menu_items(self, *, restaurant_id: int, ids: Iterable[int], token: str | None) -> dict:
        """Return `{"restaurant": {...}, "count", "results": [items]}` for the items `ids`.

        An id that is not on the restaurant's menu is absent from `results`. Raise
        RestaurantNotFound on 404, UpstreamError when no copy answers or one answers 5xx, and
        CatalogBadAnswer for anything else.
        """
        query = ",".join(str(i) for i in sorted(set(ids)))
        response = self.service.request(
            "GET", f"/restaurants/{int(restaurant_id)}/menu?ids={query}", token=token
        )
        if response.status == 404:
            raise RestaurantNotFound(restaurant_id)
        return response.json_object()


@lru_cache(maxsize=1)
def catalog_client() -> Catalog:
    """Return this process's catalog client (built on first use, so settings are read late)."""
    return CatalogClient(
        ServiceClient(
            "catalog",
            settings.CATALOG_SERVICE_URLS,
            connect_timeout=settings.SERVICE_CONNECT_TIMEOUT,
            read_timeout=settings.SERVICE_READ_TIMEOUT,
        )
    )
