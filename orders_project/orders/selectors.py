"""Reads of orders: who sees which orders, and the list and detail queries (no N+1)."""

from django.db.models import QuerySet

from food_common.authentication import ROLE_ADMIN, ROLE_CUSTOMER, ROLE_RESTAURANT_OWNER
from orders.errors import OrderNotFound
from orders.models import Order

MAX_ID = 2**63 - 1


def orders_visible_to(user) -> QuerySet[Order]:
    """Return the orders `user` may see: a customer's own, an owner's restaurants', all for admins."""
    if user.role == ROLE_ADMIN:
        return Order.objects.all()
    if user.role == ROLE_CUSTOMER:
        return Order.objects.filter(customer_id=user.id)
    if user.role == ROLE_RESTAURANT_OWNER:
        return Order.objects.filter(restaurant_owner_id=user.id)
    return Order.objects.none()


def order_list(*, user, status: str | None = None) -> QuerySet[Order]:
    """Return the orders `user` may see, newest first, with their items prefetched."""
    orders = orders_visible_to(user)
    if status:
        orders = orders.filter(status=status)
    return orders.prefetch_related("items").order_by("-created_at", "-id")


def order_check_visible(*, user, order_id: int) -> None:
    """Raise OrderNotFound (404) unless `user` may see the order; one query, nothing loaded."""
    if not (0 < order_id <= MAX_ID and orders_visible_to(user).filter(pk=order_id).exists()):
        raise OrderNotFound()


def order_get(*, user, order_id: int) -> Order:
    """Return one order `user` may see, with items and history; OrderNotFound (404) otherwise.

    An order the caller may not see answers exactly like one that does not exist.
    """
    if not 0 < order_id <= MAX_ID:
        raise OrderNotFound()
    order = (
        orders_visible_to(user)
        .prefetch_related("items", "status_changes")
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        raise OrderNotFound()
    return order
