"""Reads of orders: who sees which orders, the list and detail queries (no N+1), and where the
rider of an order is (one call to the delivery service)."""

import logging

from django.db.models import QuerySet

from food_common.authentication import ROLE_ADMIN, ROLE_CUSTOMER, ROLE_RESTAURANT_OWNER
from food_common.http import UpstreamError
from orders import clients
from orders.errors import OrderNotFound
from orders.models import DeliveryProgress, Order

logger = logging.getLogger(__name__)

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


def order_rider_position(*, order: Order, token: str | None) -> clients.RiderPosition | None:
    """Return where the order's rider was last seen, asking the delivery service with `token`.

    Only while a rider has the delivery (ASSIGNED, PICKED_UP, as its events told); None otherwise,
    and None when the delivery service does not answer or answers what cannot be used: the
    order's read never fails for it.
    """
    if order.delivery_id is None or order.delivery_progress not in (
        DeliveryProgress.ASSIGNED,
        DeliveryProgress.PICKED_UP,
    ):
        return None
    delivery = clients.delivery_client()
    if delivery is None:
        return None
    try:
        return delivery.rider_position(delivery_id=order.delivery_id, token=token)
    except (UpstreamError, clients.DeliveryBadAnswer) as exc:
        logger.warning("rider position of order %s unavailable: %s", order.pk, exc)
        return None
