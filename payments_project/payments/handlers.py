"""Event handlers of the payments worker (queue "payments"): the cancel saga's refund.

Each runs inside the event's inbox transaction (food_common.events.bus.dispatch): a repeated
delivery is skipped, and an exception rolls everything back so the bus retries the event with
backoff and finally dead-letters it (visible and replayable in the admin).
"""

import logging

from food_common.events.bus import Event, handles
from payments import selectors, services
from payments.models import PaymentStatus

logger = logging.getLogger(__name__)

ORDER_CANCELLED_REFUND_REASON = "order_cancelled"


@handles("order.cancelled")
def refund_cancelled_order(event: Event) -> None:
    """Refund the order's payment if it took the money.

    The data's `was_paid` is not trusted: a payment that succeeds after the order was cancelled
    is covered too, because the orders service publishes `order.cancelled` again when it learns
    of it, and this handler looks at the payments themselves. An order refunded already is left
    alone (payment_refund is idempotent).
    """
    order_id = int(event.data["order_id"])
    payment = selectors.payment_paid_for_order(order_id=order_id)
    if payment is None:
        logger.info("order %s cancelled: no payment took money, nothing to refund", order_id)
        return
    if payment.status == PaymentStatus.REFUNDED:
        logger.info("order %s cancelled: payment %s is already refunded", order_id, payment.pk)
        return
    services.payment_refund(payment_id=payment.pk, reason=ORDER_CANCELLED_REFUND_REASON)
