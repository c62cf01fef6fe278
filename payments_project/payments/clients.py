"""The orders service as payments sees it: one call that reads the order being paid.

Why ask over HTTP when paying, rather than keep a copy of each order from `order.created`? The
amount to charge is authoritative in the orders service at the moment of payment (and so is
whether it may be paid: an order cancelled a second ago must not be charged), and forwarding the
customer's own access token makes the orders service prove the order is theirs: it answers 404
for anyone else's. An event-fed copy could lag behind both. The price is a dependency at payment
time: when orders is down, POST /payments answers 503 and creates nothing.

The answer is read here, and only here: the rest of payments gets a `PayableOrder`, never the
JSON. Whether the order may be paid now is the orders service's rule, given as its `payable`
flag; payments keeps no copy of the order statuses.

`get_orders_client()` builds the HTTP client once per process. Anything with the same `order_get`
method can stand in for it (`payment_create(orders=...)`, or monkeypatch `get_orders_client`).
"""

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Protocol

from django.conf import settings

from food_common.http import ServiceClient, UpstreamBadAnswer

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")  # what Payment.amount holds
CURRENCY = re.compile(r"^[A-Z]{3}$")


class OrderNotFound(Exception):
    """The orders service has no such order for this caller."""


# What the orders answered could not be used (the shared client raises it for a bad status or
# JSON, this module for an order payments cannot charge).
OrdersBadAnswer = UpstreamBadAnswer


@dataclass(frozen=True)
class PayableOrder:
    """The order to pay as the orders service describes it, checked for shape."""

    id: int
    customer_id: int | None  # None when the answer does not say
    status: str  # shown to the customer when the order may not be paid
    total: Decimal  # in cents, between 0.01 and MAX_AMOUNT
    currency: str  # three capital letters
    payable: bool  # whether the orders service lets the order be paid now


class Orders(Protocol):
    def order_get(self, *, order_id: int, token: str | None) -> PayableOrder:
        """Return the order as its customer sees it (see OrdersClient.order_get)."""
        ...


class OrdersClient:
    """The orders service over HTTP (round-robin over its copies, with circuit breakers)."""

    def __init__(self, service: ServiceClient):
        self.service = service

    def order_get(self, *, order_id: int, token: str | None) -> PayableOrder:
        """Return the order `GET /orders/{id}` describes.

        Raise OrderNotFound on 404 (also someone else's order) or 403, UpstreamError when no
        copy answers or one answers 5xx, and OrdersBadAnswer for anything else, an order that
        cannot be charged included.
        """
        response = self.service.request("GET", f"/orders/{int(order_id)}", token=token)
        if response.status in (403, 404):
            raise OrderNotFound(order_id)
        return payable_order_from(response.json_object(), order_id=order_id)


def payable_order_from(answer: dict, *, order_id: int) -> PayableOrder:
    """Return the PayableOrder of an orders answer for `order_id`; raise OrdersBadAnswer."""
    try:
        if int(answer["id"]) != order_id:
            raise ValueError(f"asked for order {order_id}, got {answer['id']}")
        total = Decimal(str(answer["total"]))
        if not total.is_finite() or not CENT <= total <= MAX_AMOUNT:
            raise ValueError(f"total {total} cannot be charged")
        currency = str(answer["currency"])
        if not CURRENCY.match(currency):
            raise ValueError(f"currency {currency!r}")
        if not isinstance(answer["status"], str):
            raise ValueError(f"status {answer['status']!r} is not a string")
        if not isinstance(answer["payable"], bool):
            raise ValueError(f"payable {answer['payable']!r} is not a boolean")
        customer_id = answer.get("customer_id")
        return PayableOrder(
            id=order_id,
            customer_id=None if customer_id is None else int(customer_id),
            status=answer["status"],
            total=total.quantize(CENT),
            currency=currency,
            payable=answer["payable"],
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise OrdersBadAnswer(f"orders answered an order payments cannot use: {exc!r}") from None


@lru_cache(maxsize=1)
def get_orders_client() -> Orders:
    """Return this process's orders client (built on first use, so settings are read late)."""
    return OrdersClient(ServiceClient.from_settings("orders", settings.ORDERS_SERVICE_URLS))
