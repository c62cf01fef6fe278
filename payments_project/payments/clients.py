"""The orders service as payments sees it: one call that reads the order being paid.

Why ask over HTTP when paying, rather than keep a copy of each order from `order.created`? The
amount to charge is authoritative in the orders service at the moment of payment (and so is the
status: an order cancelled a second ago must not be charged), and forwarding the customer's own
access token makes the orders service prove the order is theirs: it answers 404 for anyone else's.
An event-fed copy could lag behind both. The price is a dependency at payment time: when orders is
down, POST /payments answers 503 and creates nothing.

`get_orders_client()` builds the HTTP client once per process. Anything with the same `order_get`
method can stand in for it (`payment_create(orders=...)`, or monkeypatch `get_orders_client`).
"""

from functools import lru_cache
from typing import Protocol

from django.conf import settings

from food_common.http import ServiceClient, UpstreamBadAnswer


class OrderNotFound(Exception):
    """The orders service has no such order for this caller."""


# What the orders answered could not be used (the shared client raises it).
OrdersBadAnswer = UpstreamBadAnswer


class Orders(Protocol):
    def order_get(self, *, order_id: int, token: str | None) -> dict:
        """Return the order as its customer sees it (see OrdersClient.order_get)."""
        ...


class OrdersClient:
    """The orders service over HTTP (round-robin over its copies, with circuit breakers)."""

    def __init__(self, service: ServiceClient):
        self.service = service

    def order_get(self, *, order_id: int, token: str | None) -> dict:
        """Return `GET /orders/{id}`: at least `{"id", "status", "total", "currency"}`.

        Raise OrderNotFound on 404 (also someone else's order) or 403, UpstreamError when no
        copy answers or one answers 5xx, and OrdersBadAnswer for anything else.
        """
        response = self.service.request("GET", f"/orders/{int(order_id)}", token=token)
        if response.status in (403, 404):
            raise OrderNotFound(order_id)
        return response.json_object()


@lru_cache(maxsize=1)
def get_orders_client() -> Orders:
    """Return this process's orders client (built on first use, so settings are read late)."""
    return OrdersClient(
        ServiceClient(
            "orders",
            settings.ORDERS_SERVICE_URLS,
            connect_timeout=settings.SERVICE_CONNECT_TIMEOUT,
            read_timeout=settings.SERVICE_READ_TIMEOUT,
        )
    )
