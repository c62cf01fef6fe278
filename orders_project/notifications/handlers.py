"""Event handlers of the notifications worker: each event becomes a notification to its customer.

Each runs inside the event's inbox transaction (food_common.events.bus.dispatch); it only writes the
notification, whose sending is queued once that transaction commits.
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
