"""What the delivery service's events do to an order: the rider, the pickup, the delivery.

The order keeps what they tell (`Order.delivery_id`, `delivery_progress`, `rider_name`,
`rider_vehicle_type`), and the pickup and the hand-over move it: READY → OUT_FOR_DELIVERY →
DELIVERED. Events arrive at least once and in any order, so each is applied to the order's current
state under its row lock: a step the order is already past changes nothing, and a `delivered`
that overtakes its `picked_up` makes both moves.
"""

import logging

from django.db import transaction

from orders.models import DeliveryProgress, Order, OrderStatus
from orders.transitions import order_locked, order_move

logger = logging.getLogger(__name__)

P = DeliveryProgress

# How far each step is along the delivery's life: a step that arrives after a later one is not
# recorded (UNASSIGNED comes before ASSIGNED: an admin assigns a delivery nobody took).
STEP_ORDER = {P.UNASSIGNED: 0, P.ASSIGNED: 1, P.PICKED_UP: 2, P.DELIVERED: 3, P.CANCELLED: 3}


@transaction.atomic
def order_delivery_record(
    *, order_id: int, delivery_id: int, progress: str, rider: dict | None = None
) -> Order:
    """Record a step of the order's delivery (the handlers of the delivery.* events).

    `rider` is the event's `{name, vehicle_type, ...}` when it names one. PICKED_UP moves a READY
    order to OUT_FOR_DELIVERY, DELIVERED moves it on to DELIVERED; an order in another status (an
    admin cancelled or refunded it meanwhile) keeps it, and the step is only recorded.
    """
    order = order_locked(order_id)
    _record(order, delivery_id=delivery_id, progress=progress, rider=rider)
    reason = f"delivery {delivery_id}"
    if progress in (P.PICKED_UP, P.DELIVERED) and order.status == OrderStatus.READY:
        who = f" by {order.rider_name}" if order.rider_name else ""
        order_move(
            order, OrderStatus.OUT_FOR_DELIVERY, by_user_id=None, reason=f"{reason} picked up{who}"
        )
    if progress == P.DELIVERED and order.status == OrderStatus.OUT_FOR_DELIVERY:
        order_move(order, OrderStatus.DELIVERED, by_user_id=None, reason=f"{reason} delivered")
    return order


def _record(order: Order, *, delivery_id: int, progress: str, rider: dict | None) -> None:
    current = order.delivery_progress
    if current and STEP_ORDER[progress] < STEP_ORDER[current]:
        logger.info(
            "delivery %s of order %s: %s arrived after %s, not recorded",
            delivery_id,
            order.pk,
            progress,
            current,
        )
        return
    order.delivery_id = delivery_id
    order.delivery_progress = progress
    fields = ["delivery_id", "delivery_progress", "updated_at"]
    if rider:
        order.rider_name = str(rider.get("name", ""))[:200]
        order.rider_vehicle_type = str(rider.get("vehicle_type", ""))[:20]
        fields += ["rider_name", "rider_vehicle_type"]
    order.save(update_fields=fields)
