"""Event handlers of the notifications worker: each event becomes a notification to its customer.

Each runs inside the event's inbox transaction (food_common.events.bus.dispatch); it only writes the
notification, whose sending is queued once that transaction commits.
"""

from food_common.events.bus import Event, handles
from notifications import messages, services
from notifications.tasks import QUEUE


@handles(messages.ORDER_CREATED, queue=QUEUE)
@handles(messages.ORDER_STATUS_CHANGED, queue=QUEUE)
@handles(messages.ORDER_CANCELLED, queue=QUEUE)
@handles(messages.PAYMENT_SUCCEEDED, queue=QUEUE)
@handles(messages.PAYMENT_FAILED, queue=QUEUE)
@handles(messages.PAYMENT_REFUNDED, queue=QUEUE)
def notify_customer(event: Event) -> None:
    services.notification_create_for_event(event=event)
