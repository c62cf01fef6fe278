"""What each event tells its recipients: the subject and body of each notification, and to whom.

The customer hears about their orders, payments and deliveries (COMPOSERS); a restaurant's owner
about its new paid orders, their cancellations and the deliveries nobody took, and a rider about
the deliveries offered to them and their cancellations (AUDIENCE_COMPOSERS: the event names them
by user id only, so theirs are live-only messages: stored, listed by GET /notifications, pushed to
their open WebSockets).
Pure functions of the event, so the wording can be read and tested without a database.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from food_common.events.bus import Event
from notifications.errors import MalformedEvent

ORDER_CREATED = "order.created"
ORDER_STATUS_CHANGED = "order.status_changed"
ORDER_CANCELLED = "order.cancelled"
DELIVERY_OFFERED = "delivery.offered"
DELIVERY_ASSIGNED = "delivery.assigned"
DELIVERY_PICKED_UP = "delivery.picked_up"
DELIVERY_DELIVERED = "delivery.delivered"
DELIVERY_UNASSIGNED = "delivery.unassigned"
DELIVERY_CANCELLED = "delivery.cancelled"
PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
PAYMENT_REFUNDED = "payment.refunded"

# The status changes worth a message of their own, in our words: the kitchen's steps. Any other
# status change is told by its own event (payment.succeeded, payment.failed, order.cancelled,
# payment.refunded, delivery.picked_up for OUT_FOR_DELIVERY, delivery.delivered for DELIVERED),
# or not at all, so `order.status_changed` to it writes nothing.
STATUS_NEWS = {
    "ACCEPTED": (
        "accepted",
        "The restaurant accepted your order #{order_id} and will start preparing it soon.",
    ),
    "PREPARING": ("is being prepared", "The restaurant is preparing your order #{order_id}."),
    "READY": ("is ready", "Your order #{order_id} is ready; a rider will pick it up soon."),
}


# What live clients are told a message is about (its `kind`, notifications.live).
KIND_ORDER_STATUS = "order.status"  # the customer's order moved: data.status
KIND_PAYMENT = "payment"  # the outcome of the customer's payment: data.outcome
KIND_ORDER_NEW = "order.new"  # the owner's restaurant has a new paid order to accept
KIND_ORDER_CANCELLED = "order.cancelled"  # a paid order of the owner's restaurant was cancelled
KIND_DELIVERY_OFFER = "delivery.offer"  # a rider is offered a delivery until data.expires_at
KIND_DELIVERY = "delivery"  # the order's delivery: data.status ASSIGNED (data.rider) or UNASSIGNED
KIND_DELIVERY_CANCELLED = "delivery.cancelled"  # a rider's delivery (or offer of one) is off


@dataclass(frozen=True)
class Message:
    recipient_id: int
    recipient_email: str  # "" for a live-only message
    subject: str
    body: str
    kind: str = ""
    order_id: int | None = None
    data: dict = field(default_factory=dict)


def message_for(event: Event) -> Message | None:
    """Return the message `event` calls for to its customer, or None if it calls for none."""
    compose = COMPOSERS.get(event.type)
    return compose(event) if compose else None


def messages_for(event: Event) -> list[Message]:
    """Return every message `event` calls for, one per recipient, by recipient id.

    In recipient order, so the handlers that write them take their recipients' locks
    (notifications.services) in one order and never deadlock each other.
    """
    composers = [COMPOSERS.get(event.type), *AUDIENCE_COMPOSERS.get(event.type, ())]
    found = [message for compose in composers if compose and (message := compose(event))]
    return sorted(found, key=lambda message: message.recipient_id)


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
    return _to_customer(
        event,
        f"Order #{_order_id(event)} placed",
        body,
        kind=KIND_ORDER_STATUS,
        status="PLACED",
        total=data.get("total"),
        currency=currency,
    )


def _order_status_changed(event: Event) -> Message | None:
    to_status = str(_required(event, "to_status"))
    if to_status not in STATUS_NEWS:
        return None
    order_id = _order_id(event)
    news, body = STATUS_NEWS[to_status]
    return _to_customer(
        event,
        f"Order #{order_id} {news}",
        body.format(order_id=order_id),
        kind=KIND_ORDER_STATUS,
        status=to_status,
    )


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
    return _to_customer(
        event,
        f"Order #{order_id} cancelled",
        body,
        kind=KIND_ORDER_STATUS,
        status="CANCELLED",
        was_paid=bool(event.data.get("was_paid")),
        reason=reason or "",
    )


def _payment_succeeded(event: Event) -> Message | None:
    order_id = _order_id(event)
    body = (
        f"We received your payment of {_amount(event)} for order #{order_id}. "
        "The restaurant will confirm your order shortly."
    )
    return _to_customer(
        event, f"Payment received for order #{order_id}", body, **_payment(event, "succeeded")
    )


def _payment_failed(event: Event) -> Message | None:
    order_id = _order_id(event)
    reason = event.data.get("reason") or "the payment was declined"
    body = (
        f"Your payment of {_amount(event)} for order #{order_id} did not go through: {reason}. "
        "You can try again with another card."
    )
    return _to_customer(
        event,
        f"Payment failed for order #{order_id}",
        body,
        **_payment(event, "failed"),
        reason=event.data.get("reason") or "",
    )


def _payment_refunded(event: Event) -> Message | None:
    order_id = _order_id(event)
    body = (
        f"We refunded {_amount(event)} for order #{order_id}. "
        "It may take a few days to appear on your statement."
    )
    return _to_customer(event, f"Refund for order #{order_id}", body, **_payment(event, "refunded"))


def _payment(event: Event, outcome: str) -> dict:
    return {
        "kind": KIND_PAYMENT,
        "outcome": outcome,
        "amount": event.data.get("amount"),
        "currency": event.data.get("currency", ""),
    }


def _owner_new_order(event: Event) -> Message | None:
    if event.data.get("to_status") != "PAID":
        return None
    order_id = _order_id(event)
    return _to_user(
        event,
        _user_id(event, "restaurant_owner_id"),
        f"New order #{order_id}",
        f"Order #{order_id} is paid: accept it to start preparing it.",
        kind=KIND_ORDER_NEW,
        status="PAID",
        restaurant_id=event.data.get("restaurant_id"),
    )


def _owner_order_cancelled(event: Event) -> Message | None:
    if not event.data.get("was_paid"):
        return None  # the restaurant never saw it: only paid orders reach the kitchen
    order_id = _order_id(event)
    reason = event.data.get("reason") or ""
    because = f" Reason: {reason}." if reason else ""
    return _to_user(
        event,
        _user_id(event, "restaurant_owner_id"),
        f"Order #{order_id} cancelled",
        f"Order #{order_id} was cancelled: do not prepare it.{because}",
        kind=KIND_ORDER_CANCELLED,
        status="CANCELLED",
        restaurant_id=event.data.get("restaurant_id"),
        reason=reason,
    )


def _rider_delivery_offered(event: Event) -> Message | None:
    data = event.data
    order_id = _order_id(event)
    expires_at = _required(event, "expires_at")
    rider = data.get("rider") if isinstance(data.get("rider"), dict) else {}
    return _to_user(
        event,
        _user_id_of(event, rider),
        f"Delivery of order #{order_id} offered",
        f"Can you take order #{order_id}? Accept before {expires_at}.",
        kind=KIND_DELIVERY_OFFER,
        delivery_id=_required(event, "delivery_id"),
        offer_id=data.get("offer_id"),
        expires_at=expires_at,
        pickup=data.get("pickup"),
        dropoff=data.get("dropoff"),
        distance_km=data.get("distance_km"),
    )


def _rider_delivery_cancelled(event: Event) -> Message | None:
    """Tell the rider who had the delivery, or whose offer of it was open, that it is off."""
    data = event.data
    rider = next(
        (data[key] for key in ("rider", "offered_to") if isinstance(data.get(key), dict)), None
    )
    if rider is None:
        return None  # nobody had it or was asked: nobody to tell
    order_id = _order_id(event)
    was_offer = not isinstance(data.get("rider"), dict)
    return _to_user(
        event,
        _user_id_of(event, rider),
        f"Delivery of order #{order_id} cancelled",
        f"Order #{order_id} was cancelled: "
        + ("its offer is withdrawn." if was_offer else "do not deliver it; you are free again."),
        kind=KIND_DELIVERY_CANCELLED,
        delivery_id=_required(event, "delivery_id"),
        was_offer=was_offer,
    )


def _user_id_of(event: Event, rider: dict) -> int:
    """Return the user id of a rider the event names, or raise MalformedEvent."""
    try:
        return int(rider["user_id"])
    except (KeyError, TypeError, ValueError):
        raise MalformedEvent(f"{event.type} {event.id}: rider.user_id is not a user id") from None


def _delivery_assigned(event: Event) -> Message | None:
    order_id = _order_id(event)
    rider = _rider(event)
    by = f" by {rider['vehicle_type']}" if rider["vehicle_type"] else ""
    body = (
        f"{rider['name']} will bring your order #{order_id}{by}; "
        "they are on their way to the restaurant."
    )
    return _to_customer(
        event,
        f"A rider has your order #{order_id}",
        body,
        kind=KIND_DELIVERY,
        status="ASSIGNED",
        delivery_id=event.data.get("delivery_id"),
        rider=rider,
    )


def _rider_offer_withdrawn(event: Event) -> Message | None:
    """Tell the rider whose open offer an admin's assignment withdrew that it is gone."""
    rider = event.data.get("offer_withdrawn_from")
    if not isinstance(rider, dict):
        return None  # the rider took their offer, or nobody else was asked
    order_id = _order_id(event)
    return _to_user(
        event,
        _user_id_of(event, rider),
        f"Offer of order #{order_id} withdrawn",
        f"Order #{order_id} was given to another rider: its offer is withdrawn.",
        kind=KIND_DELIVERY_CANCELLED,
        delivery_id=_required(event, "delivery_id"),
        was_offer=True,
    )


def _delivery_picked_up(event: Event) -> Message | None:
    order_id = _order_id(event)
    rider = _rider(event)
    return _to_customer(
        event,
        f"Order #{order_id} is on its way",
        f"{rider['name']} picked up your order #{order_id} and is on the way to you.",
        kind=KIND_ORDER_STATUS,
        status="OUT_FOR_DELIVERY",
        delivery_id=event.data.get("delivery_id"),
        rider=rider,
    )


def _delivery_delivered(event: Event) -> Message | None:
    order_id = _order_id(event)
    return _to_customer(
        event,
        f"Order #{order_id} delivered",
        f"Your order #{order_id} was delivered. Enjoy your meal!",
        kind=KIND_ORDER_STATUS,
        status="DELIVERED",
        delivery_id=event.data.get("delivery_id"),
    )


def _delivery_unassigned(event: Event) -> Message | None:
    order_id = _order_id(event)
    body = (
        f"No rider could take your order #{order_id} yet. We are finding one for you and will "
        "tell you as soon as someone has it."
    )
    return _to_customer(
        event,
        f"Still looking for a rider for order #{order_id}",
        body,
        kind=KIND_DELIVERY,
        status="UNASSIGNED",
        delivery_id=event.data.get("delivery_id"),
    )


def _owner_delivery_unassigned(event: Event) -> Message | None:
    order_id = _order_id(event)
    body = (
        f"No rider took order #{order_id}. Our team will assign one by hand; keep the order "
        "ready, or cancel it if it cannot wait."
    )
    return _to_user(
        event,
        _user_id(event, "restaurant_owner_id"),
        f"No rider for order #{order_id}",
        body,
        kind=KIND_DELIVERY,
        status="UNASSIGNED",
        delivery_id=event.data.get("delivery_id"),
        restaurant_id=event.data.get("restaurant_id"),
    )


def _rider(event: Event) -> dict:
    """Return the event's rider as customers may see them: name and vehicle."""
    rider = _required(event, "rider")
    if not isinstance(rider, dict):
        raise MalformedEvent(f"{event.type} {event.id}: rider is not an object")
    return {
        "name": str(rider.get("name") or "Your rider"),
        "vehicle_type": str(rider.get("vehicle_type") or ""),
    }


COMPOSERS: dict[str, Callable[[Event], Message | None]] = {
    ORDER_CREATED: _order_created,
    ORDER_STATUS_CHANGED: _order_status_changed,
    ORDER_CANCELLED: _order_cancelled,
    PAYMENT_SUCCEEDED: _payment_succeeded,
    PAYMENT_FAILED: _payment_failed,
    PAYMENT_REFUNDED: _payment_refunded,
    DELIVERY_ASSIGNED: _delivery_assigned,
    DELIVERY_PICKED_UP: _delivery_picked_up,
    DELIVERY_DELIVERED: _delivery_delivered,
    DELIVERY_UNASSIGNED: _delivery_unassigned,
}

# The other people an event concerns, beside its customer (each message live-only).
AUDIENCE_COMPOSERS: dict[str, tuple[Callable[[Event], Message | None], ...]] = {
    ORDER_STATUS_CHANGED: (_owner_new_order,),
    ORDER_CANCELLED: (_owner_order_cancelled,),
    DELIVERY_ASSIGNED: (_rider_offer_withdrawn,),
    DELIVERY_OFFERED: (_rider_delivery_offered,),
    DELIVERY_UNASSIGNED: (_owner_delivery_unassigned,),
    DELIVERY_CANCELLED: (_rider_delivery_cancelled,),
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


def _user_id(event: Event, key: str) -> int:
    try:
        return int(_required(event, key))
    except (TypeError, ValueError):
        raise MalformedEvent(f"{event.type} {event.id}: {key} is not a user id") from None


def _to_customer(event: Event, subject: str, body: str, *, kind: str, **data) -> Message:
    return Message(
        recipient_id=_user_id(event, "customer_id"),
        recipient_email=str(_required(event, "customer_email")),
        subject=subject[:200],
        body=body,
        kind=kind,
        order_id=event.data.get("order_id"),
        data=data,
    )


def _to_user(
    event: Event, recipient_id: int, subject: str, body: str, *, kind: str, **data
) -> Message:
    """Return a live-only message (no email) to a user the event names by id only."""
    return Message(
        recipient_id=recipient_id,
        recipient_email="",
        subject=subject[:200],
        body=body,
        kind=kind,
        order_id=event.data.get("order_id"),
        data=data,
    )
