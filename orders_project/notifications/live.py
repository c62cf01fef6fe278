"""Live messages: what a WebSocket of /ws/live receives (notifications.consumers), defined once.

Every notification is also a live message, pushed to its recipient's open WebSockets once the
handler that wrote it commits, and sent again to a client that catches up:

    {"id": 42, "type": "order.status", "order_id": 12, "at": "2026-01-05T12:00:00.123456+00:00",
     "subject": "Order #12 accepted", "text": "The restaurant accepted ...",
     "data": {"status": "ACCEPTED"}}

`id` orders one recipient's messages: notifications.services writes a recipient's notifications
one transaction at a time, so their ids grow in the order they commit. A client that reconnects
with the last id it saw is sent every message after it, in id order, then the live ones; one it
sees twice has the same id. `type` is the notification's kind (notifications.messages: KIND_*),
`data` its details (the order's status, the payment's outcome, an offer's `expires_at`...).

Rider positions are not notifications: the delivery service pushes them straight from the rider's
location update (throttled) as `{"type": "delivery.position", "order_id", "delivery_id", "at",
"data": {"lat", "lon"}}`, with no id: they are never sent again (the latest one is in
`GET /deliveries/{id}`).

What travels on the channel layer to a user's group (food_common.live.user_group), each handled
by the consumer method of its type:

    {"type": "live.notification", "message": <live message>, "previous_id": <the id of the
     recipient's notification before it, None for their first>}
    {"type": "live.position", "message": <position message>}

`previous_id` lets a consumer see a message it missed (a push lost while Redis was away): it then
reads what it missed from the database instead of forwarding the push.
"""

from food_common.live import push_to_user
from notifications.models import Notification

LIVE_NOTIFICATION = "live.notification"
LIVE_POSITION = "live.position"


def live_message(notification: Notification) -> dict:
    """Return the live message of a notification."""
    return {
        "id": notification.pk,
        "type": notification.kind or notification.event_type,
        "order_id": notification.order_id,
        "at": notification.created_at.isoformat(),
        "subject": notification.subject,
        "text": notification.body,
        "data": notification.data,
    }


def notification_push(*, notification: Notification, previous_id: int | None) -> None:
    """Push a committed notification to its recipient's open WebSockets (best-effort)."""
    push_to_user(
        notification.recipient_id,
        {
            "type": LIVE_NOTIFICATION,
            "message": live_message(notification),
            "previous_id": previous_id,
        },
    )
