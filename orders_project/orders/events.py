"""The events orders publishes, and the one function that builds each one's data from an order.

The payloads are a published contract (their consumers read nothing else of an order): change a
shape here only with the contract. Callers publish them in the transaction of the change they
report: `publish(events.ORDER_CREATED, events.order_created(order, items))`.
"""

from collections.abc import Iterable

from orders.models import Order, OrderItem

ORDER_CREATED = "order.created"
ORDER_STATUS_CHANGED = "order.status_changed"
ORDER_CANCELLED = "order.cancelled"
ORDER_READY = "order.ready"


def order_created(order: Order, items: Iterable[OrderItem]) -> dict:
    """Return the data of `order.created`: the new order with its priced lines."""
    return {
        **_subject(order),
        "items": [
            {
                "menu_item_id": item.menu_item_id,
                "name": item.name,
                "unit_price": str(item.unit_price),
                "quantity": item.quantity,
                "line_total": str(item.line_total),
            }
            for item in items
        ],
        "subtotal": str(order.subtotal),
        "total": str(order.total),
        "currency": order.currency,
    }


def order_status_changed(order: Order, *, from_status: str, to_status: str) -> dict:
    """Return the data of `order.status_changed` (any move but the one to CANCELLED)."""
    return {**_subject(order), "from_status": from_status, "to_status": to_status}


def order_cancelled(order: Order, *, was_paid: bool, reason: str) -> dict:
    """Return the data of `order.cancelled`; `was_paid` asks the payments service for a refund."""
    return {
        **_subject(order),
        "was_paid": was_paid,
        "total": str(order.total),
        "currency": order.currency,
        "reason": reason,
    }


def order_ready(order: Order) -> dict:
    """Return the data of `order.ready`: where a rider picks the order up and where it goes."""
    return {
        **_subject(order),
        "pickup": {"lat": order.pickup_lat, "lon": order.pickup_lon},
        "dropoff": {
            "lat": order.delivery_lat,
            "lon": order.delivery_lon,
            "address": order.delivery_address,
        },
    }


def _subject(order: Order) -> dict:
    """Return whose order it is: every order event starts with these."""
    return {
        "order_id": order.pk,
        "customer_id": order.customer_id,
        "customer_email": order.customer_email,
        "restaurant_id": order.restaurant_id,
        "restaurant_owner_id": order.restaurant_owner_id,
    }
