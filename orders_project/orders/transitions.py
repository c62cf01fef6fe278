"""Status changes of an order: the one way any status changes (API, admin, event handlers).

`order_transition` locks the order row, applies `orders.state_machine`, and writes the history row
and the event in the same transaction. Cancelling and the kitchen's steps (ACCEPTED … READY)
are the moves people ask for; payments' outcomes are in `orders.payment_outcomes`, the rider's
(OUT_FOR_DELIVERY, DELIVERED) in `orders.delivery_outcomes`.
"""

import logging

from django.db import transaction

from food_common.authentication import ROLE_ADMIN, ROLE_RESTAURANT_OWNER
from food_common.events.bus import publish
from orders import events
from orders.errors import InvalidTransition, OrderNotFound, OrderRejected
from orders.models import Order, OrderStatus, OrderStatusChange
from orders.state_machine import PAID_STATUSES, check_transition

logger = logging.getLogger(__name__)

# The statuses a restaurant's owner (or an admin) moves an order to with POST /orders/{id}/status.
# DELIVERED is no longer one: the rider's `delivery.delivered` says so (orders.delivery_outcomes).
KITCHEN_STATUSES = (
    OrderStatus.ACCEPTED,
    OrderStatus.PREPARING,
    OrderStatus.READY,
)

# The statuses from which only some may cancel (the state machine allows it; anyone who may see
# the order may cancel from the others it allows). READY: the food is made and a rider may be on
# the way, so its restaurant's owner or an admin (the customer could not cancel PREPARING either).
# OUT_FOR_DELIVERY: the rider has the food; only an admin.
CANCEL_ONLY_BY = {
    OrderStatus.READY: frozenset({ROLE_RESTAURANT_OWNER, ROLE_ADMIN}),
    OrderStatus.OUT_FOR_DELIVERY: frozenset({ROLE_ADMIN}),
}


@transaction.atomic
def order_transition(
    *, order_id: int, to_status: str, by_user_id: int | None = None, reason: str = ""
) -> Order:
    """Move an order to `to_status` if the state machine allows it, with its history and event.

    Raise OrderNotFound (404) or InvalidTransition (409, code "invalid_transition"). Publishes
    `order.cancelled` for a move to CANCELLED and `order.status_changed` for any other move, in
    the same transaction.
    """
    return order_move(order_locked(order_id), to_status, by_user_id=by_user_id, reason=reason)


@transaction.atomic
def order_cancel(*, order_id: int, by_user_id: int | None, by_role: str, reason: str = "") -> Order:
    """Cancel an order as a caller of role `by_role` (see order_transition).

    Allowed from PLACED, PAYMENT_FAILED, PAID and ACCEPTED to anyone who may see the order, from
    READY and OUT_FOR_DELIVERY only to the roles of CANCEL_ONLY_BY; InvalidTransition (409)
    otherwise. The delivery service cancels the order's delivery on `order.cancelled`.
    """
    order = order_locked(order_id)
    allowed = CANCEL_ONLY_BY.get(order.status)
    if allowed is not None and by_role not in allowed:
        raise InvalidTransition(
            f"An order in status {order.status} can be cancelled only by "
            f"{' or '.join(sorted(allowed))}.",
            from_status=order.status,
            to_status=OrderStatus.CANCELLED,
        )
    return order_move(order, OrderStatus.CANCELLED, by_user_id=by_user_id, reason=reason)


def order_advance(*, order_id: int, to_status: str, by_user_id: int | None) -> Order:
    """Move an order along the kitchen's part of its life (ACCEPTED … READY)."""
    if to_status not in KITCHEN_STATUSES:
        raise OrderRejected(
            {"status": [f"Choose one of {', '.join(KITCHEN_STATUSES)}."]},
        )
    return order_transition(order_id=order_id, to_status=to_status, by_user_id=by_user_id)


def order_locked(order_id: int) -> Order:
    """Return the order, its row locked until the transaction ends; OrderNotFound if none."""
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound()
    return order


def order_move(order: Order, to_status: str, *, by_user_id: int | None, reason: str) -> Order:
    """Move an order locked by `order_locked` (see order_transition)."""
    from_status = order.status
    check_transition(from_status, to_status)
    order.status = to_status
    if to_status == OrderStatus.CANCELLED and from_status in PAID_STATUSES:
        order.refund_pending = True
    elif to_status == OrderStatus.REFUNDED:
        order.refund_pending = False
    order.save(update_fields=["status", "refund_pending", "updated_at"])
    OrderStatusChange.objects.create(
        order=order,
        from_status=from_status,
        to_status=to_status,
        by_user_id=by_user_id,
        reason=reason,
    )
    if to_status == OrderStatus.CANCELLED:
        data = events.order_cancelled(order, was_paid=from_status in PAID_STATUSES, reason=reason)
        publish(events.ORDER_CANCELLED, data)
    else:
        data = events.order_status_changed(order, from_status=from_status, to_status=to_status)
        publish(events.ORDER_STATUS_CHANGED, data)
    if to_status == OrderStatus.READY:
        _ready_for_a_rider(order)
    return order


def _ready_for_a_rider(order: Order) -> None:
    """Publish `order.ready`, which opens the order's delivery; an order placed before orders had
    positions has nowhere to send a rider: its owner or an admin cancels it, or it stays READY."""
    if None in (order.pickup_lat, order.pickup_lon, order.delivery_lat, order.delivery_lon):
        logger.warning("order %s is READY but has no positions: no delivery opened", order.pk)
        return
    publish(events.ORDER_READY, events.order_ready(order))
