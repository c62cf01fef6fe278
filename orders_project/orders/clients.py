"""The other services as the orders service sees them: the catalog, and the parts of a trail.

The catalog: one call that prices the lines of an order. The adapter reads the catalog's answer
here, and only here: callers get a checked `MenuOffer`, or an exception. `catalog_client()` builds
the HTTP client once per process. Anything with the same `menu_offer` method can stand in for it
(`order_place(catalog=...)`, or monkeypatch `catalog_client` in tests).

The delivery service: where the rider of an order's delivery was last seen, read with the caller's
token (`delivery_client()`, `rider_position`); the order's detail shows it, or nothing when the
delivery service does not answer.

The trail: payments and delivery each answer for an order id with their part of its story, over
an internal path the gateway never forwards, signed with the event signing key
(`food_common.events.trail`). `trail_peers()` lists them, in the order they are asked.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Protocol

from django.conf import settings
from django.utils.dateparse import parse_datetime

from food_common.events.trail import part_from_peer
from food_common.http import ServiceClient, UpstreamBadAnswer
from orders.models import MAX_LATITUDE, MAX_LONGITUDE


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
class Point:
    lat: float  # finite, |lat| <= MAX_LATITUDE
    lon: float  # finite, |lon| <= 180


@dataclass(frozen=True)
class MenuOffer:
    """What the catalog said about the restaurant and the asked-for items, checked for shape."""

    restaurant_owner_id: int
    restaurant_is_open: bool
    items: dict[int, MenuItem]  # by menu item id; an id not on the menu is absent
    restaurant_position: Point | None = None  # None: the restaurant has no position yet


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
            restaurant_position=_point_or_none(restaurant.get("lat"), restaurant.get("lon")),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise CatalogBadAnswer(f"unusable menu ({exc!r}): {repr(answer)[:300]}") from None


def _point_or_none(lat, lon) -> Point | None:
    """Return the position (lat, lon), None if both are null; ValueError if it is no position."""
    if lat is None and lon is None:
        return None
    if isinstance(lat, bool) or isinstance(lon, bool):
        raise ValueError(f"position ({lat!r}, {lon!r}) is not two numbers")
    point = Point(float(lat), float(lon))
    if not (
        math.isfinite(point.lat)
        and math.isfinite(point.lon)
        and abs(point.lat) <= MAX_LATITUDE
        and abs(point.lon) <= MAX_LONGITUDE
    ):
        raise ValueError(f"position ({lat!r}, {lon!r}) is out of range")
    return point


@dataclass(frozen=True)
class RiderPosition:
    lat: float
    lon: float
    at: datetime  # when the rider reported it


# What the delivery service answered could not be used (a status, JSON or delivery of another shape).
DeliveryBadAnswer = UpstreamBadAnswer


class Delivery(Protocol):
    def rider_position(self, *, delivery_id: int, token: str | None) -> RiderPosition | None:
        """Return where the delivery's rider was last seen (see DeliveryClient.rider_position)."""
        ...


class DeliveryClient:
    """The delivery service over HTTP (round-robin over its copies, with circuit breakers)."""

    def __init__(self, service: ServiceClient):
        self.service = service

    def rider_position(self, *, delivery_id: int, token: str | None) -> RiderPosition | None:
        """Return the last position of the delivery's rider, None while it shows none.

        One `GET /deliveries/{id}` with the caller's token (the delivery service shows a delivery
        to the order's customer, its restaurant's owner and admins, as orders shows the order).
        Raise UpstreamError when no copy answers or one answers 5xx, DeliveryBadAnswer for anything
        else (another status, a delivery of another shape).
        """
        response = self.service.request("GET", f"/deliveries/{int(delivery_id)}", token=token)
        return rider_position_from(response.json_object(), delivery_id=delivery_id)


def rider_position_from(answer: dict, *, delivery_id: int) -> RiderPosition | None:
    """Read the `rider_position` ({lat, lon, at} or null) of the delivery service's delivery."""
    try:
        if int(answer["id"]) != delivery_id:
            raise ValueError(f"asked for delivery {delivery_id}, got {answer['id']}")
        position = answer["rider_position"]
        if position is None:
            return None
        point = _point_or_none(position["lat"], position["lon"])
        at = parse_datetime(position["at"])
        if point is None or at is None:
            raise ValueError(f"no position: {position!r}")
        return RiderPosition(lat=point.lat, lon=point.lon, at=at)
    except (KeyError, TypeError, ValueError) as exc:
        raise DeliveryBadAnswer(f"unusable delivery ({exc!r}): {repr(answer)[:300]}") from None


@lru_cache(maxsize=1)
def delivery_client() -> Delivery | None:
    """Return this process's delivery client; None when DELIVERY_SERVICE_URLS is empty."""
    if not settings.DELIVERY_SERVICE_URLS:
        return None
    return DeliveryClient(ServiceClient.from_settings("delivery", settings.DELIVERY_SERVICE_URLS))


@lru_cache(maxsize=1)
def catalog_client() -> Catalog:
    """Return this process's catalog client (built on first use, so settings are read late)."""
    return CatalogClient(ServiceClient.from_settings("catalog", settings.CATALOG_SERVICE_URLS))


class TrailPeer:
    """Another service's part of an order's trail, asked over its internal path with a signature."""

    def __init__(self, service: ServiceClient):
        self.service = service
        self.name = service.name

    def order_part(self, *, order_id: int, event_ids: Iterable[str]) -> dict:
        """Return the service's part of the order's trail, told the ids of the events known so far.

        Raise UpstreamError when no copy answers, UpstreamBadAnswer when the answer is no part.
        """
        return part_from_peer(
            self.service, f"/internal/orders/{int(order_id)}/trail", event_ids=event_ids
        )


@lru_cache(maxsize=1)
def trail_peers() -> list[TrailPeer]:
    """Return the services asked for their part of a trail: payments, then delivery (if set)."""
    return [
        TrailPeer(ServiceClient.from_settings(name, urls))
        for name, urls in (
            ("payments", settings.PAYMENTS_SERVICE_URLS),
            ("delivery", settings.DELIVERY_SERVICE_URLS),
        )
        if urls
    ]
