"""The one table of allowed order status transitions (see "Order statuses" in the design).

    PLACED → PAID → ACCEPTED → PREPARING → READY → OUT_FOR_DELIVERY → DELIVERED
    PLACED → PAYMENT_FAILED → PAID (a retried payment)
    PLACED | PAYMENT_FAILED | PAID | ACCEPTED | READY | OUT_FOR_DELIVERY → CANCELLED
    CANCELLED → REFUNDED (once a paid order is refunded)
    any other status → REFUNDED (its payment was refunded without a cancellation: an admin's
                       refund, in the payments admin or API)

REFUNDED is reached only from `payment.refunded`, the payments service's word that the money went
back; it ends the order, whatever it was doing (the design names only the cancel saga's
CANCELLED → REFUNDED; an admin's refund of a PAID order must not leave it PAID, where its restaurant
would still accept it). From PLACED or PAYMENT_FAILED it covers a refund whose event arrives before
the payment's own `payment.succeeded`, which then changes nothing.

The kitchen's steps end at READY; the rider's delivery events move the order on
(`delivery.picked_up` to OUT_FOR_DELIVERY, `delivery.delivered` to DELIVERED). An order READY or
OUT_FOR_DELIVERY may be cancelled only by some (`orders.transitions.CANCEL_ONLY_BY`): PREPARING
not at all, as before.

An order is payable while it may move to PAID: the order API's `payable` says so, and the payments
service reads that flag instead of keeping its own list of statuses.

Who may ask for which transition (customer, owner, payment and delivery events) is decided in
`orders.transitions`, `orders.payment_outcomes` and `orders.delivery_outcomes`.
"""

from orders.errors import InvalidTransition
from orders.models import OrderStatus

S = OrderStatus

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PLACED: frozenset({S.PAID, S.PAYMENT_FAILED, S.CANCELLED, S.REFUNDED}),
    S.PAYMENT_FAILED: frozenset({S.PAID, S.CANCELLED, S.REFUNDED}),
    S.PAID: frozenset({S.ACCEPTED, S.CANCELLED, S.REFUNDED}),
    S.ACCEPTED: frozenset({S.PREPARING, S.CANCELLED, S.REFUNDED}),
    S.PREPARING: frozenset({S.READY, S.REFUNDED}),
    S.READY: frozenset({S.OUT_FOR_DELIVERY, S.CANCELLED, S.REFUNDED}),
    S.OUT_FOR_DELIVERY: frozenset({S.DELIVERED, S.CANCELLED, S.REFUNDED}),
    S.DELIVERED: frozenset({S.REFUNDED}),
    S.CANCELLED: frozenset({S.REFUNDED}),
    S.REFUNDED: frozenset(),
}

# A cancelled order was paid if it was cancelled from one of these.
PAID_STATUSES = frozenset(
    {S.PAID, S.ACCEPTED, S.PREPARING, S.READY, S.OUT_FOR_DELIVERY, S.DELIVERED}
)


def can_transition(from_status: str, to_status: str) -> bool:
    """Return True if an order in `from_status` may move to `to_status`."""
    return to_status in TRANSITIONS.get(from_status, frozenset())


def is_payable(status: str) -> bool:
    """Return True if a payment may start for an order in `status` (it may still move to PAID)."""
    return can_transition(status, S.PAID)


def check_transition(from_status: str, to_status: str) -> None:
    """Raise InvalidTransition (409, naming both statuses) unless the move is allowed."""
    if not can_transition(from_status, to_status):
        raise InvalidTransition(
            f"An order in status {from_status} cannot move to {to_status}.",
            from_status=from_status,
            to_status=to_status,
        )
