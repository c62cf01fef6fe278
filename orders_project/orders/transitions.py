"""Status changes of an order: the one way any status changes (API, admin, event handlers).

`order_transition` locks the order row, applies `orders.state_machine`, and writes the history row
and the event in the same transaction. Cancelling and the kitchen's steps (ACCEPTED … DELIVERED)
are the moves people ask for; payments' outcomes are in `orders.payment_outcomes`.
"""

from django.db import transaction

from food_common.events.bus import publish
from orders import events
from orders.errors import OrderNotFound, OrderRejected
from orders.models import Order, OrderStatus, OrderStatusChange
from orders.state_machine import PAID_STATUSES, check_transition

# The statuses a restaurant's owner (or an admin) moves an order to with POST /orders/{id}/status.
KITCHEN_STATUSES = (
    OrderStatus.ACCEPTED,
    OrderStatus.PREPARING,
    OrderStatus.READY,
    OrderStatus.DELIVERED,
)


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


def order_cancel(*, order_id: int, by_user_id: int | None, reason: str = "") -> Order:
    """Cancel an order (allowed from PLACED, PAYMENT_FAILED, PAID, ACCEPTED); see order_transition."""
    return order_transition(
        order_id=order_id, to_status=OrderStatus.CANCELLED, by_user_id=by_user_id, reason=reason
    )


def order_advance(*, order_id: int, to_status: str, by_user_id: int | None) -> Order:
    """Move an order along the kitchen's part of its life (ACCEPTED … DELIVERED)."""
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
    return order
