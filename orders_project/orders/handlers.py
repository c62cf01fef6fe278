"""Events that move orders: payments' (paid, payment failed, refunded: the end of the cancel saga)
and the delivery service's (the order's delivery recorded; picked up, delivered)."""

from food_common.events.bus import Event, handles
from orders.models import DeliveryProgress
from orders.services import order_delivery_record, order_payment_record, order_refund_record


@handles("payment.succeeded")
def on_payment_succeeded(event: Event) -> None:
    order_payment_record(
        order_id=event.data["order_id"], succeeded=True, payment_id=event.data["payment_id"]
    )


@handles("payment.failed")
def on_payment_failed(event: Event) -> None:
    order_payment_record(
        order_id=event.data["order_id"],
        succeeded=False,
        payment_id=event.data["payment_id"],
        reason=event.data.get("reason", ""),
    )


@handles("payment.refunded")
def on_payment_refunded(event: Event) -> None:
    order_refund_record(order_id=event.data["order_id"], payment_id=event.data["payment_id"])


@handles("delivery.assigned")
def on_delivery_assigned(event: Event) -> None:
    _delivery_record(event, DeliveryProgress.ASSIGNED)


@handles("delivery.picked_up")
def on_delivery_picked_up(event: Event) -> None:
    _delivery_record(event, DeliveryProgress.PICKED_UP)


@handles("delivery.delivered")
def on_delivery_delivered(event: Event) -> None:
    _delivery_record(event, DeliveryProgress.DELIVERED)


@handles("delivery.unassigned")
def on_delivery_unassigned(event: Event) -> None:
    _delivery_record(event, DeliveryProgress.UNASSIGNED)


@handles("delivery.cancelled")
def on_delivery_cancelled(event: Event) -> None:
    _delivery_record(event, DeliveryProgress.CANCELLED)


def _delivery_record(event: Event, progress: str) -> None:
    order_delivery_record(
        order_id=event.data["order_id"],
        delivery_id=event.data["delivery_id"],
        progress=progress,
        rider=event.data.get("rider"),
    )
