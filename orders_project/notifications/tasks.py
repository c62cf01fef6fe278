"""Celery tasks of the notifications worker (queue "notifications"): send one, sweep the stale."""

import logging

from celery import shared_task
from django.conf import settings

from food_common.events.tasks import backoff
from notifications import selectors
from notifications.apps import NotificationsConfig
from notifications.errors import NotificationNotSent
from notifications.sending import notification_send

logger = logging.getLogger(__name__)

QUEUE = NotificationsConfig.event_queue  # its worker's one queue: events and these tasks
SEND_TASK = "notifications.send"


def max_retries() -> int:
    return getattr(settings, "NOTIFICATION_MAX_RETRIES", 5)


def retry_delay(retries: int) -> float:
    """Return the backoff of a send's retry."""
    return backoff(
        retries,
        getattr(settings, "NOTIFICATION_RETRY_BASE_SECONDS", 1.0),
        getattr(settings, "NOTIFICATION_RETRY_MAX_SECONDS", 300.0),
    )


def queue_send(notification_id: int, *, failed_attempts: int = 0) -> None:
    """Queue the sending of one notification on the notifications worker.

    After `failed_attempts` attempts made elsewhere, the task starts as their retry: with that
    retry count and its backoff, so the attempts add up to NOTIFICATION_MAX_RETRIES + 1 in all.
    """
    retry = {}
    if failed_attempts:
        retry = {"retries": failed_attempts, "countdown": retry_delay(failed_attempts - 1)}
    # The request id goes along by itself (food_common.celery_app binds it for every task).
    send_notification.apply_async(args=[notification_id], queue=QUEUE, **retry)


@shared_task(
    name=SEND_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # counted here, against NOTIFICATION_MAX_RETRIES
    ignore_result=True,
)
def send_notification(self, notification_id: int) -> None:
    """Send one notification; retry a failure with backoff, and mark it FAILED after the last try."""
    retries = self.request.retries or 0
    last_attempt = retries >= max_retries()
    try:
        notification_send(notification_id=notification_id, last_attempt=last_attempt)
    except NotificationNotSent as exc:
        if last_attempt:
            logger.error(
                "notification %s FAILED after %d attempt(s): %s",
                notification_id,
                retries + 1,
                exc.error,
            )
            return
        delay = retry_delay(retries)
        logger.warning(
            "notification %s not sent (%s), retry in %.1fs", notification_id, exc.error, delay
        )
        raise self.retry(countdown=delay, queue=QUEUE) from exc


@shared_task(name="notifications.requeue_stale", ignore_result=True)
def requeue_stale_notifications() -> int:
    """Queue again the notifications left PENDING (their send task never ran or was lost).

    Sending is idempotent, so queueing one that is merely slow costs nothing but a skipped task.
    """
    stale = selectors.notification_ids_left_pending(
        older_than_seconds=getattr(settings, "NOTIFICATION_STALE_SECONDS", 600.0)
    )
    for notification_id in stale:
        queue_send(notification_id)
    queued = len(stale)
    if queued:
        logger.warning("queued %d stale notification(s) again", queued)
    return queued
