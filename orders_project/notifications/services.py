"""Writes of notifications: create one per event and recipient, send it, send it again.

Sending happens only after the transaction that wrote the notification commits, so a rolled-back
event handler never sends anything and a slow mail server never holds up the event's inbox
transaction. A notification written by an event handler is sent right then by the same worker
(one Celery task per event instead of two: bench/README.md); a failed attempt is retried by the
`notifications.send` task, and a worker that dies before sending leaves the row PENDING for the
stale sweep. "Send again" from the admin queues that task.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from food_common.db import violates
from food_common.events.bus import Event
from notifications.messages import message_for
from notifications.models import ONCE_PER_EVENT_RECIPIENT, Notification, NotificationStatus

logger = logging.getLogger(__name__)

DEFAULT_FROM_EMAIL = "orders@food.example"


class NotificationNotSent(Exception):
    """The mail backend refused a notification; the attempt is recorded on the row."""

    def __init__(self, notification: Notification, error: str):
        super().__init__(f"notification {notification.pk} not sent: {error}")
        self.notification = notification
        self.error = error


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
    from notifications.tasks import max_retries, queue_send  # tasks imports this module

    try:
        notification_send(notification_id=notification_id, last_attempt=max_retries() == 0)
    except NotificationNotSent as exc:
        if max_retries() > 0:
            logger.warning(
                "notification %s not sent (%s), retry queued", notification_id, exc.error
            )
            queue_send(notification_id, failed_attempts=1)


def notification_send(*, notification_id: int, last_attempt: bool = False) -> Notification | None:
    """Send a notification by email unless it is already sent; return it (None if it is gone).

    The row is locked while sending, so two deliveries of the same task send one email. A failure
    is recorded (attempts, last_error; FAILED if `last_attempt`) and raised as NotificationNotSent.
    """
    with transaction.atomic():
        notification = Notification.objects.select_for_update().filter(pk=notification_id).first()
        if notification is None:
            logger.warning("notification %s no longer exists: nothing to send", notification_id)
            return None
        if notification.status == NotificationStatus.SENT:
            logger.info("notification %s already sent: skipped", notification_id)
            return notification
        notification.attempts += 1
        try:
            send_mail(
                notification.subject,
                notification.body,
                getattr(settings, "DEFAULT_FROM_EMAIL", None) or DEFAULT_FROM_EMAIL,
                [notification.recipient_email],
                fail_silently=False,
            )
        except Exception as exc:  # noqa: BLE001 - any backend failure: record it, the task retries
            error = f"{exc.__class__.__name__}: {exc}"[:2000]
            notification.last_error = error
            if last_attempt:
                notification.status = NotificationStatus.FAILED
            notification.save(update_fields=["attempts", "last_error", "status", "updated_at"])
        else:
            notification.status = NotificationStatus.SENT
            notification.sent_at = timezone.now()
            notification.last_error = ""
            notification.save(
                update_fields=["attempts", "last_error", "status", "sent_at", "updated_at"]
            )
            return notification
    # Raised after the commit, so the failed attempt stays recorded.
    raise NotificationNotSent(notification, error)


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


def notification_requeue_stale(*, older_than_seconds: float, limit: int = 500) -> int:
    """Queue again PENDING notifications untouched for `older_than_seconds`; return how many.

    They are the ones whose send task never reached the broker or was lost; sending is idempotent,
    so queueing one that is merely slow costs nothing but a skipped task.
    """
    from notifications.tasks import queue_send  # tasks imports this module

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = Notification.objects.filter(
        status=NotificationStatus.PENDING, updated_at__lte=cutoff
    ).order_by("updated_at")[:limit]
    count = 0
    for notification_id in stale.values_list("pk", flat=True):
        queue_send(notification_id)
        count += 1
    return count


def _send_after_commit(notification: Notification) -> None:
    from notifications.tasks import queue_send  # tasks imports this module

    notification_id = notification.pk
    # robust: a broker refusing the task must not fail a transaction that already committed;
    # the row stays PENDING and the stale sweep (or an admin) queues it again.
    transaction.on_commit(lambda: queue_send(notification_id), robust=True)
