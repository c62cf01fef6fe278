"""What payments' events do to an order: paid, payment failed, refunded (the end of the cancel saga).

Events arrive at least once and in any order, so each outcome is applied to the order's current
status under its row lock, and one that arrives late or twice changes nothing.
"""

import logging

from django.db import transaction

from food_common.events.bus import publish
from orders import events
from orders.models import Order, OrderStatus
from orders.transitions import order_locked, order_move

logger = logging.getLogger(__name__)


@transaction.atomic
def order_payment_record(
    *, order_id: int, succeeded: bool, payment_id: int, reason: str = ""
) -> Order:
    """Apply a payment's outcome to its order (the handlers of payment.succeeded/failed).

    PLACED|PAYMENT_FAILED → PAID on success; PLACED → PAYMENT_FAILED on failure. A success for an
    order cancelled meanwhile asks payments for a refund (order.cancelled again, was_paid) and
    marks the refund pending. Outcomes that arrive late or twice change nothing.
    """
    order = order_locked(order_id)
    if succeeded and order.status in (OrderStatus.PLACED, OrderStatus.PAYMENT_FAILED):
        return order_move(order, OrderStatus.PAID, by_user_id=None, reason=f"payment {payment_id}")
    if succeeded and order.status == OrderStatus.CANCELLED and not order.refund_pending:
        order.refund_pending = True
        order.save(update_fields=["refund_pending", "updated_at"])
        reason = f"payment {payment_id} arrived after the cancellation"
        publish(events.ORDER_CANCELLED, events.order_cancelled(order, was_paid=True, reason=reason))
        return order
    if not succeeded and order.status == OrderStatus.PLACED:
        return order_move(
            order,
            OrderStatus.PAYMENT_FAILED,
            by_user_id=None,
            reason=reason or f"payment {payment_id}",
        )
    logger.info(
        "payment %s (%s) for order %s in %s: nothing to change",
        payment_id,
        "succeeded" if succeeded else "failed",
        order_id,
        order.status,
    )
    return order


@transaction.atomic
def order_refund_record(*, order_id: int, payment_id: int) -> Order:
    """Apply a completed refund (the handler of payment.refunded): the order becomes REFUNDED.

    A cancelled order ends the cancel saga so. Any other order was refunded without being
    cancelled (an admin's refund): it leaves PAID (or the kitchen's statuses) for REFUNDED too, so
    its restaurant can no longer accept it. A refund that arrives twice changes nothing.
    """
    order = order_locked(order_id)
    if order.status == OrderStatus.REFUNDED:
        logger.info("refund of payment %s for order %s: already REFUNDED", payment_id, order_id)
        return order
    reason = f"payment {payment_id} refunded"
    if order.status != OrderStatus.CANCELLED:
        logger.warning(
            "payment %s of order %s in %s was refunded without a cancellation: order REFUNDED",
            payment_id,
            order_id,
            order.status,
        )
        reason += f" while the order was {order.status}"
    return order_move(order, OrderStatus.REFUNDED, by_user_id=None, reason=reason)
