"""Writes of the delivery service, one module per use case; views and handlers call these names.

- riders: profiles, verification, availability (and the rider's dispatch state in Redis);
- dispatch: opening a ready order's delivery, offering it to the nearest rider, expiries,
  declines, the growing radius, giving up;
- last_mile: accepting, assigning by hand, picking up, delivering, cancelling.
"""

from delivery.services.dispatch import (
    delivery_dispatch,
    delivery_open,
    dispatch_sweep,
    offer_decline,
    offer_expire,
    search_radius,
)
from delivery.services.last_mile import (
    delivery_assign,
    delivery_cancel_for_order,
    delivery_deliver,
    delivery_pickup,
    offer_accept,
)
from delivery.services.riders import rider_create, rider_update, rider_verify

__all__ = [
    "delivery_assign",
    "delivery_cancel_for_order",
    "delivery_deliver",
    "delivery_dispatch",
    "delivery_open",
    "delivery_pickup",
    "dispatch_sweep",
    "offer_accept",
    "offer_decline",
    "offer_expire",
    "rider_create",
    "rider_update",
    "rider_verify",
    "search_radius",
]
