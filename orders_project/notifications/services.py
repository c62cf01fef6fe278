"""Writes of notifications: create one per event and recipient, send and push it, send it again.

Every notification is pushed to its recipient's open WebSockets once it commits
(notifications.live); one whose recipient has no email in the event (a restaurant owner, a rider)
is live only: stored and pushed, never emailed. A recipient's notifications are written one
transaction at a time (a lock per recipient, held until the event handler commits), so their ids
grow in commit order: the order in which live clients receive them and catch up on them.

Sending happens only after the transaction that wrote the notification commits, so a rolled-back
event handler never sends anything and a slow mail server never holds up the event's inbox
transaction. A notification written by an event handler is sent right then by the same worker
(one Celery task per event instead of two: bench/README.md); a failed attempt is retried by the
`notifications.send` task, and a worker that dies before sending leaves the row PENDING for the
stale sweep. "Send again" from the admin queues that task. One attempt is `notifications.sending`.
"""

import logging

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from food_common.db import violates
from food_common.events.bus import Event
from notifications import selectors
from notifications.errors import NotificationNotSent
from notifications.live import notification_push
from notifications.messages import Message, messages_for
from notifications.models import (
    ONCE_PER_EVENT_RECIPIENT,
    Channel,
    Notification,
    NotificationStatus,
)
from notifications.sending import notification_send
from notifications.tasks import max_retries, queue_send

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock(RECIPIENT_LOCK, recipient): one recipient's notifications are written one
# transaction at a time.
RECIPIENT_LOCK = 7301


@transaction.atomic
def notification_create_for_event(*, event: Event) -> list[Notification]:
    """Write the notifications `event` calls for (one per recipient), push and send each after
    commit; return them.

    Idempotent: the same event never gives its recipient a second notification. The event bus's
    inbox already runs a handler once per event; the unique constraint is the last guard, tried by
    a plain INSERT (in a savepoint, so a repeat leaves the handler's transaction usable).
    """
    return [_create(event, message) for message in messages_for(event)]


def _create(event: Event, message: Message) -> Notification:
    _lock_recipient(message.recipient_id)
    previous_id = selectors.notification_last_id(recipient_id=message.recipient_id)
    live_only = not message.recipient_email
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                event_id=event.id,
                recipient_id=message.recipient_id,
                recipient_email=message.recipient_email,
                channel=Channel.LIVE if live_only else Channel.EMAIL,
                subject=message.subject,
                body=message.body,
                event_type=event.type,
                kind=message.kind,
                order_id=message.order_id,
                data=message.data,
                # Nothing to send: stored, and pushed below.
                status=NotificationStatus.SENT if live_only else NotificationStatus.PENDING,
                sent_at=timezone.now() if live_only else None,
            )
    except IntegrityError as exc:
        if not violates(exc, ONCE_PER_EVENT_RECIPIENT):
            raise
        return Notification.objects.get(event_id=event.id, recipient_id=message.recipient_id)
    # robust: neither a push nor a send may fail a handler that already committed. The push comes
    # first (it returns at once); a client that missed it catches up when it reconnects.
    transaction.on_commit(
        lambda: notification_push(notification=notification, previous_id=previous_id),
        robust=True,
    )
    if not live_only:
        notification_id = notification.pk
        # A failed send leaves the row PENDING, and the stale sweep queues it again.
        transaction.on_commit(lambda: _send_now(notification_id), robust=True)
    return notification


def _lock_recipient(recipient_id: int) -> None:
    """Wait for the other transactions writing this recipient's notifications to end."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", [RECIPIENT_LOCK, recipient_id & 0x7FFFFFFF]
        )


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
