"""What each event tells its recipient: the subject and body of the notification, and to whom.

Pure functions of the event, so the wording can be read and tested without a database.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from food_common.events.bus import Event
from notifications.errors import MalformedEvent

ORDER_CREATED = "order.created"
ORDER_STATUS_CHANGED = "order.status_changed"
ORDER_CANCELLED = "order.cancelled"
PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
PAYMENT_REFUNDED = "payment.refunded"

# The status changes worth a message of their own, in our words: the kitchen's steps. Any other
# status change is told by its own event (payment.succeeded, payment.failed, order.cancelled,
# payment.refunded), or not at all, so `order.status_changed` to it writes nothing.
STATUS_NEWS = {
    "ACCEPTED": (
        "accepted",
        "The restaurant accepted your order #{order_id} and will start preparing it soon.",
    ),
    "PREPARING": ("is being prepared", "The restaurant is preparing your order #{order_id}."),
    "READY": ("is ready", "Your order #{order_id} is ready and on its way to you soon."),
    "DELIVERED": ("delivered", "Your order #{order_id} was delivered. Enjoy your meal!"),
}


@dataclass(frozen=True)
class Message:
    recipient_id: int
    recipient_email: str
    subject: str
    body: str


def message_for(event: Event) -> Message | None:
    """Return the message `event` calls for, or None if it calls for none."""
    compose = COMPOSERS.get(event.type)
    return compose(event) if compose else None


def _order_created(event: Event) -> Message | None:
    data = event.data
    currency = data.get("currency", "")
    lines = []
    for item in data.get("items") or []:
        quantity = item.get("quantity", 1)
        unit_price = item.get("unit_price")
        line = f"- {quantity} × {item.get('name', 'item')}"
        line_total = item.get("line_total")
        if unit_price is not None:
            line += f" at {money(unit_price, currency)}"
            price = _decimal(unit_price)
            if line_total is None and price is not None and isinstance(quantity, int):
                line_total = price * quantity
        if line_total is not None:
            line += f" = {money(line_total, currency)}"
        lines.append(line)
    totals = []
    if data.get("subtotal") is not None and data.get("subtotal") != data.get("total"):
        totals.append(f"Subtotal: {money(data['subtotal'], currency)}")
    totals.append(f"Total: {money(_required(event, 'total'), currency)}")
    body = "\n".join(
        [
            f"Thank you! Your order #{_order_id(event)} has been placed.",
            "",
            *lines,
            "",
            *totals,
            "",
            "We will let you know when your payment goes through.",
        ]
    )
    return _to_customer(event, f"Order #{_order_id(event)} placed", body)


def _order_status_changed(event: Event) -> Message | None:
    to_status = str(_required(event, "to_status"))
    if to_status not in STATUS_NEWS:
        return None
    order_id = _order_id(event)
    news, body = STATUS_NEWS[to_status]
    return _to_customer(event, f"Order #{order_id} {news}", body.format(order_id=order_id))


def _order_cancelled(event: Event) -> Message | None:
    order_id = _order_id(event)
    if event.data.get("was_paid"):
        total = event.data.get("total")
        amount = f" of {money(total, event.data.get('currency', ''))}" if total is not None else ""
        refund = f"Your payment{amount} will be refunded; we will email you once it is done."
    else:
        refund = "You have not been charged."
    reason = event.data.get("reason")
    because = f" Reason: {reason}." if reason else ""
    body = f"Your order #{order_id} has been cancelled.{because} {refund}"
    return _to_customer(event, f"Order #{order_id} cancelled", body)


def _payment_succeeded(event: Event) -> Message | None:
    order_id = _order_id(event)
    body = (
        f"We received your payment of {_amount(event)} for order #{order_id}. "
        "The restaurant will confirm your order shortly."
    )
    return _to_customer(event, f"Payment received for order #{order_id}", body)


def _payment_failed(event: Event) -> Message | None:
    order_id = _order_id(event)
    reason = event.data.get("reason") or "the payment was declined"
    body = (
        f"Your payment of {_amount(event)} for order #{order_id} did not go through: {reason}. "
        "You can try again with another card."
    )
    return _to_customer(event, f"Payment failed for order #{order_id}", body)


def _payment_refunded(event: Event) -> Message | None:
    order_id = _order_id(event)
    body = (
        f"We refunded {_amount(event)} for order #{order_id}. "
        "It may take a few days to appear on your statement."
    )
    return _to_customer(event, f"Refund for order #{order_id}", body)


COMPOSERS: dict[str, Callable[[Event], Message | None]] = {
    ORDER_CREATED: _order_created,
    ORDER_STATUS_CHANGED: _order_status_changed,
    ORDER_CANCELLED: _order_cancelled,
    PAYMENT_SUCCEEDED: _payment_succeeded,
    PAYMENT_FAILED: _payment_failed,
    PAYMENT_REFUNDED: _payment_refunded,
}


def money(amount, currency: str) -> str:
    """Return `amount` with two decimals and its currency ("19.00 EUR")."""
    value = _decimal(amount)
    text = f"{value:.2f}" if value is not None else str(amount)
    return f"{text} {currency}".strip()


def _decimal(value) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _amount(event: Event) -> str:
    return money(_required(event, "amount"), event.data.get("currency", ""))


def _order_id(event: Event):
    return _required(event, "order_id")


def _required(event: Event, key: str):
    value = event.data.get(key)
    if value is None or value == "":
        raise MalformedEvent(f"{event.type} {event.id} has no {key!r}")
    return value


def _to_customer(event: Event, subject: str, body: str) -> Message:
    try:
        recipient_id = int(_required(event, "customer_id"))
    except (TypeError, ValueError):
        raise MalformedEvent(f"{event.type} {event.id}: customer_id is not a user id") from None
    return Message(
        recipient_id=recipient_id,
        recipient_email=str(_required(event, "customer_email")),
        subject=subject[:200],
        body=body,
    )
