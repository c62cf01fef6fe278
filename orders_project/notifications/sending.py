"""Sending one notification by email: the attempt, recorded on its row, at most one email.

Called by the `notifications.send` task and, for the first attempt, right after the event handler
that wrote the notification commits (`notifications.services`). It queues nothing itself: whoever
calls it decides on a retry, so this module, the services and the tasks import one another one way.
"""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from notifications.errors import NotificationNotSent
from notifications.models import Notification, NotificationStatus

logger = logging.getLogger(__name__)

DEFAULT_FROM_EMAIL = "orders@food.example"


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
