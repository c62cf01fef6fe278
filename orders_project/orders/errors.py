"""The errors the orders API answers with, and their codes (rendered by food_common.errors).

A bad or reused Idempotency-Key is refused by `food_common.idempotency`'s errors.
"""

from food_common.errors import BadGateway, Conflict, DomainError, NotFound


class OrderErrorCode:
    RESTAURANT_NOT_FOUND = "restaurant_not_found"
    RESTAURANT_CLOSED = "restaurant_closed"
    RESTAURANT_WITHOUT_POSITION = "restaurant_without_position"
    MENU_ITEMS_INVALID = "menu_items_invalid"
    INVALID_TRANSITION = "invalid_transition"


class OrderRejected(DomainError):
    """The order cannot be placed as asked; `errors` says which field or line is wrong."""

    default_detail = "Invalid input."

    def __init__(self, errors: dict, detail: str | None = None, code: str | None = None):
        super().__init__(detail, code, errors=errors)


class CatalogBadGateway(BadGateway):
    default_detail = "The catalog gave an answer the order service cannot use."


class OrderNotFound(NotFound):
    default_detail = "Order not found."


class InvalidTransition(Conflict):
    """The state machine refuses the move; `from_status` and `to_status` name it."""

    default_code = OrderErrorCode.INVALID_TRANSITION
    default_detail = "The order cannot move to this status from its current one."
