"""Celery tasks of the event bus: one entry point per queue, the outbox sweep and purge."""

import logging
import uuid

from celery import shared_task
from django.conf import settings

from food_common.events.bus import (
    HANDLE_TASK,
    dispatch,
    handle_task_argsrepr,
    purge_sent,
    relay_pending,
)
from food_common.events.metrics import count_retry
from food_common.events.models import REJECTED, DeadLetter
from food_common.events.signing import rejection

logger = logging.getLogger(__name__)


def backoff(retries: int, base: float, cap: float) -> float:
    """Return the wait before retry number `retries + 1`: base × 2^retries, capped."""
    return min(base * (2**retries), cap)


def retry_delay(retries: int) -> float:
    """Return the backoff of an event handler's retry."""
    return backoff(retries, settings.EVENT_RETRY_BASE_SECONDS, settings.EVENT_RETRY_MAX_SECONDS)


@shared_task(
    name=HANDLE_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None
)
def handle_event(self, envelope: dict, queue: str, only_handler: str | None = None) -> None:
    """Dispatch one event to this queue's handlers; retry failures, then dead-letter them.

    An envelope its producer did not sign is rejected before anything is applied or written to
    the inbox (food_common.events.signing).
    """
    reason = rejection(envelope)
    if reason:
        reject(envelope, queue, reason)
        return
    failures = dispatch(envelope, queue, only_handler)
    if not failures:
        return
    if self.request.retries < settings.EVENT_MAX_RETRIES:
        delay = retry_delay(self.request.retries)
        count_retry(envelope["type"])
        logger.warning(
            "event %s: %d handler(s) failed, retry in %.1fs",
            envelope["id"],
            len(failures),
            delay,
        )
        raise self.retry(
            countdown=delay, argsrepr=handle_task_argsrepr(envelope, queue, only_handler)
        )
    for handler, error in failures:
        DeadLetter.objects.create(
            event_id=envelope["id"],
            event_type=envelope["type"],
            handler=handler,
            queue=queue,
            envelope=envelope,
            error=error,
            attempts=self.request.retries + 1,
        )
        logger.error(
            "event %s dead-lettered for %s after %d attempts: %s",
            envelope["id"],
            handler,
            self.request.retries + 1,
            error,
        )


def reject(envelope: object, queue: object, reason: str) -> None:
    """Log and dead-letter an envelope that must not be applied (its data is never logged)."""
    fields = envelope if isinstance(envelope, dict) else {}
    # Whoever forged it chose these: cut to size, and a nil UUID for an id that is none.
    event_id, event_type = str(fields.get("id", ""))[:100], str(fields.get("type", ""))[:100]
    queue = str(queue)[:50]
    logger.warning("event %r %r on queue %r rejected: %s", event_id, event_type, queue, reason)
    try:
        parsed_id = uuid.UUID(event_id)
    except ValueError:
        parsed_id = uuid.UUID(int=0)
    DeadLetter.objects.create(
        event_id=parsed_id,
        event_type=event_type,
        handler=REJECTED,
        queue=queue,
        envelope=envelope,
        error=reason,
        attempts=1,
    )


@shared_task(name="food.events.relay_outbox", ignore_result=True)
def relay_outbox() -> int:
    """Send the outbox events the broker did not take at commit time."""
    sent = relay_pending()
    if sent:
        logger.info("outbox sweep sent %d event(s)", sent)
    return sent


@shared_task(name="food.events.purge_outbox", ignore_result=True)
def purge_outbox() -> int:
    """Delete the sent outbox events that occurred over EVENT_OUTBOX_RETENTION_DAYS ago (0: none)."""
    days = settings.EVENT_OUTBOX_RETENTION_DAYS
    if days <= 0:
        return 0
    deleted = purge_sent(older_than_days=days)
    if deleted:
        logger.info("outbox purge deleted %d event(s) sent over %g day(s) ago", deleted, days)
    return deleted
