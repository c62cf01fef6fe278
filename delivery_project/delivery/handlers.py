"""Event handlers of the delivery worker (queue "delivery"): orders ready to go, orders cancelled.

Each runs inside the event's inbox transaction (food_common.events.bus.dispatch): a repeated
delivery is skipped, and an exception rolls everything back so the bus retries the event with
backoff and finally dead-letters it (visible and replayable in the admin).
"""

from delivery import services
from food_common.events.bus import Event, handles


@handles("order.ready")
def open_delivery(event: Event) -> None:
    """Open the ready order's delivery and offer it to the nearest rider."""
    data = event.data
    services.delivery_open(
        order_id=data["order_id"],
        customer_id=data["customer_id"],
        customer_email=data["customer_email"],
        restaurant_id=data["restaurant_id"],
        restaurant_owner_id=data["restaurant_owner_id"],
        pickup_lat=data["pickup"]["lat"],
        pickup_lon=data["pickup"]["lon"],
        dropoff_lat=data["dropoff"]["lat"],
        dropoff_lon=data["dropoff"]["lon"],
        dropoff_address=data["dropoff"].get("address", ""),
    )


@handles("order.cancelled")
def cancel_delivery(event: Event) -> None:
    """Cancel the order's delivery and free its rider (remember the order if it had none yet)."""
    services.delivery_cancel_for_order(
        order_id=event.data["order_id"], reason=event.data.get("reason", "")
    )
