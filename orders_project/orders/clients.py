"""The catalog as the orders service sees it: one call that prices the lines of an order.

The adapter reads the catalog's answer here, and only here: callers get a checked `MenuOffer`, or
an exception. `catalog_client()` builds the HTTP client once per process. Anything with the same
`menu_offer` method can stand in for it (`order_place(catalog=...)`, or monkeypatch
`catalog_client` in tests).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Protocol

from django.conf import settings

from food_common.http import ServiceClient, UpstreamBadAnswer


class RestaurantNotFound(Exception):
    """The catalog has no restaurant with this id."""


# What the catalog answered could not be used (a status, JSON or menu of another shape).
CatalogBadAnswer = UpstreamBadAnswer


@dataclass(frozen=True)
class MenuItem:
    name: str
    price: Decimal  # positive
    currency: str
    is_available: bool


@dataclass(frozen=True)
class MenuOffer:
    """What the catalog said about the restaurant and the asked-for items, checked for shape."""

    restaurant_owner_id: int
    restaurant_is_open: bool
    items: dict[int, MenuItem]  # by menu item id; an id not on the menu is absent


class Catalog(Protocol):
    def menu_offer(self, *, restaurant_id: int, ids: Iterable[int], token: str | None) -> MenuOffer:
        """Return the restaurant and these items of its menu (see CatalogClient.menu_offer)."""
        ...


class CatalogClient:
    """The catalog service over HTTP (round-robin over its copies, with circuit breakers)."""

    def __init__(self, service: ServiceClient):
        self.service = service

    def menu_offer(self, *, restaurant_id: int, ids: Iterable[int], token: str | None) -> MenuOffer:
        """Return the restaurant and the items `ids` of its menu, with one request.

        Raise RestaurantNotFound on 404, UpstreamError when no copy answers or one answers 5xx,
        and CatalogBadAnswer for anything else (another status, or a menu of another shape).
        """
        query = ",".join(str(i) for i in sorted(set(ids)))
        response = self.service.request(
            "GET", f"/restaurants/{int(restaurant_id)}/menu?ids={query}", token=token
        )
        if response.status == 404:
            raise RestaurantNotFound(restaurant_id)
        return menu_offer_from(response.json_object(), restaurant_id=restaurant_id)


def menu_offer_from(answer: dict, *, restaurant_id: int) -> MenuOffer:
    """Read the catalog's `{"restaurant": {...}, "results": [items]}`; CatalogBadAnswer if unusable.

    Unusable: a field missing or of the wrong type, another restaurant, a price that is not a
    positive amount.
    """
    try:
        restaurant = answer["restaurant"]
        if int(restaurant["id"]) != restaurant_id:
            raise ValueError(f"asked for restaurant {restaurant_id}, got {restaurant['id']}")
        items = {}
        for item in answer["results"]:
            price = Decimal(str(item["price"]))
            if not price.is_finite() or price <= 0:
                raise ValueError(f"menu item {item['id']} costs {item['price']!r}")
            items[int(item["id"])] = MenuItem(
                name=str(item["name"]),
                price=price,
                currency=str(item["currency"]),
                is_available=bool(item["is_available"]),
            )
        return MenuOffer(
            restaurant_owner_id=int(restaurant["owner_id"]),
            restaurant_is_open=bool(restaurant["is_open"]),
            items=items,
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise CatalogBadAnswer(f"unusable menu ({exc!r}): {repr(answer)[:300]}") from None


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
