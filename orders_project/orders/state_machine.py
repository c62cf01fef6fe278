"""The one table of allowed order status transitions (see "Order statuses" in the design).

    PLACED → PAID → ACCEPTED → PREPARING → READY → DELIVERED
    PLACED → PAYMENT_FAILED → PAID (a retried payment)
    PLACED | PAYMENT_FAILED | PAID | ACCEPTED → CANCELLED → REFUNDED (once a paid order is refunded)

Who may ask for which transition (customer, owner, payment events) is decided in `orders.services`.
"""

from food_common.errors import Conflict
from orders.models import OrderStatus

S = OrderStatus

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PLACED: frozenset({S.PAID, S.PAYMENT_FAILED, S.CANCELLED}),
    S.PAYMENT_FAILED: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.ACCEPTED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.PREPARING, S.CANCELLED}),
    S.PREPARING: frozenset({S.READY}),
    S.READY: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.CANCELLED: frozenset({S.REFUNDED}),
    S.REFUNDED: frozenset(),
}

# A cancelled order was paid if it was cancelled from one of these.
PAID_STATUSES = frozenset({S.PAID, S.ACCEPTED, S.PREPARING, S.READY, S.DELIVERED})


class InvalidTransition(Conflict):
    default_code = "invalid_transition"
    default_detail = "The order cannot move to this status from its current one."


def can_transition(from_status: str, to_status: str) -> bool:
    """Return True if an order in `from_status` may move to `to_status`."""
    return to_status in TRANSITIONS.get(from_status, frozenset())


def check_transition(from_status: str, to_status: str) -> None:
    """Raise InvalidTransition (409, naming both statuses) unless the move is allowed."""
    if not can_transition(from_status, to_status):
        raise InvalidTransition(
            f"An order in status {from_status} cannot move to {to_status}.",
            from_status=from_status,
            to_status=to_status,
        )
