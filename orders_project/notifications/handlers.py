"""Event handlers of the notifications worker: each event becomes a notification to each person it
concerns (notifications.messages): its customer, and a restaurant's owner or a rider.

Each runs inside the event's inbox transaction (food_common.events.bus.dispatch); it only writes the
notifications, which are pushed and sent once that transaction commits.
"""

from food_common.events.bus import Event, handles
from notifications import messages, services


@handles(messages.ORDER_CREATED)
@handles(messages.ORDER_STATUS_CHANGED)
@handles(messages.ORDER_CANCELLED)
@handles(messages.PAYMENT_SUCCEEDED)
@handles(messages.PAYMENT_FAILED)
@handles(messages.PAYMENT_REFUNDED)
def notify_customer(event: Event) -> None:
    services.notification_create_for_event(event=event)


@handles(messages.DELIVERY_OFFERED)
@handles(messages.DELIVERY_CANCELLED)
def notify_rider(event: Event) -> None:
    services.notification_create_for_event(event=event)


@handles(messages.DELIVERY_ASSIGNED)
@handles(messages.DELIVERY_PICKED_UP)
@handles(messages.DELIVERY_DELIVERED)
@handles(messages.DELIVERY_UNASSIGNED)
def notify_about_delivery(event: Event) -> None:
    services.notification_create_for_event(event=event)
