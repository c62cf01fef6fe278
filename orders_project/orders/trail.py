"""An order's whole story (its trail), for staff: GET /orders/{id}/trail and the order's admin page.

Its part here: the order's status history, what the event bus recorded about it (events published
and handled, dead letters: food_common.events.trail) and its notifications (the notifications app,
in this project's database). payments and delivery answer for the order with their parts
(orders.clients.trail_peers), each told the ids of the events known so far so that it can say which
of them it handled. A service that does not answer leaves its part missing, named among the
problems, and the rest of the trail is shown.
"""

import logging

from notifications.selectors import notification_trail

from food_common.events.trail import event_ids_about, event_records, merge, published_ids
from food_common.http import UpstreamBadAnswer, UpstreamError
from food_common.urls import admin_page
from orders import clients
from orders.errors import OrderNotFound
from orders.models import Order
from orders.selectors import MAX_ID

logger = logging.getLogger(__name__)

SUBJECT = "order_id"  # the field of every order's event that names the order
GENERIC = frozenset({"service", "published", "handled", "dead_letters", "records", "problems"})


def order_trail(*, order_id: int, peers=None) -> dict:
    """Return the order's trail: the order, its events with their consumers, one timeline, the
    request ids it happened under, its problems, and each service's records of it.

    Raise OrderNotFound (404). `peers`: the other services' parts (default: trail_peers()).
    """
    order = None
    if 0 < order_id <= MAX_ID:
        order = Order.objects.prefetch_related("status_changes").filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound()
    known = event_ids_about(key=SUBJECT, value=order_id)
    parts, unavailable = [], {}
    for peer in clients.trail_peers() if peers is None else peers:
        try:
            part = peer.order_part(order_id=order_id, event_ids=known)
        except (UpstreamError, UpstreamBadAnswer) as exc:
            logger.warning("trail of order %s: no part from %s (%s)", order_id, peer.name, exc)
            unavailable[peer.name] = str(exc)
            continue
        parts.append(part)
        known += published_ids(part)
    others = [event_id for part in parts for event_id in published_ids(part)]
    parts[:0] = [order_part(order, other_event_ids=others), notification_trail(event_ids=known)]
    trail = {"order": order_summary(order), **merge(parts, unavailable=unavailable)}
    for part in parts:
        trail.update({key: value for key, value in part.items() if key not in GENERIC})
    return trail


def order_part(order: Order, *, other_event_ids) -> dict:
    """Return the orders part of the order's trail: its events and its status history."""
    part = event_records(key=SUBJECT, value=order.pk, other_event_ids=other_event_ids)
    url = admin_page("orders", "orders.order", order.pk)
    history = []
    for change in order.status_changes.all():
        step = {
            "at": change.at.isoformat(),
            "from_status": change.from_status,
            "to_status": change.to_status,
            "by_user_id": change.by_user_id,
            "reason": change.reason,
        }
        history.append(step)
        by = f"by user {change.by_user_id}" if change.by_user_id else "by an event or the admin"
        part["records"].append(
            {
                "at": step["at"],
                "what": f"status {change.from_status or '(new)'} → {change.to_status}",
                "detail": f"{by}{': ' + change.reason if change.reason else ''}",
                "url": url,
            }
        )
    if order.refund_pending:
        part["problems"].append(
            f"order {order.pk} was cancelled after it was paid; its refund is not confirmed yet"
        )
    part["status_history"] = history
    return part


def order_summary(order: Order) -> dict:
    """Return the order's own fields, and the paths of its pages in the admins."""
    return {
        "id": order.pk,
        "status": order.status,
        "customer_id": order.customer_id,
        "customer_email": order.customer_email,
        "restaurant_id": order.restaurant_id,
        "restaurant_owner_id": order.restaurant_owner_id,
        "total": str(order.total),
        "currency": order.currency,
        "refund_pending": order.refund_pending,
        "created_at": order.created_at.isoformat(),
        "links": order_links(order),
    }


def order_links(order: Order) -> dict:
    """Return the paths of the order's page and of its restaurant, payments and delivery in the
    admins (through the gateway)."""
    return {
        "order": admin_page("orders", "orders.order", order.pk),
        "restaurant": admin_page("catalog", "catalog.restaurant", order.restaurant_id),
        "payments": admin_page("payments", "payments.payment", order_id=order.pk),
        "delivery": admin_page("delivery", "delivery.delivery", order_id=order.pk),
    }
