"""Payments' events move orders: paid, payment failed, and refunded (the end of the cancel saga)."""

from food_common.events.bus import Event, handles
from orders.services import order_payment_record, order_refund_record


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
