"""Writes of notifications: create one per event and recipient and send it, send it again.

Sending happens only after the transaction that wrote the notification commits, so a rolled-back
event handler never sends anything and a slow mail server never holds up the event's inbox
transaction. A notification written by an event handler is sent right then by the same worker
(one Celery task per event instead of two: bench/README.md); a failed attempt is retried by the
`notifications.send` task, and a worker that dies before sending leaves the row PENDING for the
stale sweep. "Send again" from the admin queues that task. One attempt is `notifications.sending`.
"""

import logging

from django.db import IntegrityError, transaction

from food_common.db import violates
from food_common.events.bus import Event
from notifications.errors import NotificationNotSent
from notifications.messages import message_for
from notifications.models import ONCE_PER_EVENT_RECIPIENT, Notification, NotificationStatus
from notifications.sending import notification_send
from notifications.tasks import max_retries, queue_send

logger = logging.getLogger(__name__)


def notification_create_for_event(*, event: Event) -> Notification | None:
    """Write the notification `event` calls for (None if none) and send it after commit.

    Idempotent: the same event never gives its recipient a second notification. The event bus's
    inbox already runs a handler once per event; the unique constraint is the last guard, tried by
    a plain INSERT (in a savepoint, so a repeat leaves the handler's transaction usable).
    """
    message = message_for(event)
    if message is None:
        return None
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                event_id=event.id,
                recipient_id=message.recipient_id,
                recipient_email=message.recipient_email,
                subject=message.subject,
                body=message.body,
                event_type=event.type,
            )
    except IntegrityError as exc:
        if not violates(exc, ONCE_PER_EVENT_RECIPIENT):
            raise
        return Notification.objects.get(event_id=event.id, recipient_id=message.recipient_id)
    notification_id = notification.pk
    # robust: whatever happens while sending must not fail a handler that already committed;
    # the row stays PENDING and the stale sweep queues it again.
    transaction.on_commit(lambda: _send_now(notification_id), robust=True)
    return notification


def _send_now(notification_id: int) -> None:
    """Make the first attempt here; leave a failure to the send task's retries."""
    try:
        notification_send(notification_id=notification_id, last_attempt=max_retries() == 0)
    except NotificationNotSent as exc:
        if max_retries() > 0:
            logger.warning(
                "notification %s not sent (%s), retry queued", notification_id, exc.error
            )
            queue_send(notification_id, failed_attempts=1)


@transaction.atomic
def notification_send_again(*, notification: Notification) -> bool:
    """Queue a FAILED notification for sending again; return False if it is not FAILED."""
    notification = Notification.objects.select_for_update().get(pk=notification.pk)
    if notification.status != NotificationStatus.FAILED:
        return False
    notification.status = NotificationStatus.PENDING
    notification.save(update_fields=["status", "updated_at"])
    _send_after_commit(notification)
    return True


def _send_after_commit(notification: Notification) -> None:
    notification_id = notification.pk
    # robust: a broker refusing the task must not fail a transaction that already committed;
    # the row stays PENDING and the stale sweep (or an admin) queues it again.
    transaction.on_commit(lambda: queue_send(notification_id), robust=True)
