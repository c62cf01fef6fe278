"""Periodic tasks of the payments service, sent by its beat (`bin/beat payments`) to its queue."""

import logging

from celery import shared_task

from payments import idempotency, services

logger = logging.getLogger(__name__)


@shared_task(name="payments.expire_stale_pending", ignore_result=True)
def expire_stale_pending() -> int:
    """Mark payments PENDING for more than five minutes FAILED ("abandoned")."""
    expired = services.payment_expire_stale_pending()
    if expired:
        logger.warning("%d abandoned payment(s) marked FAILED", expired)
    return expired


@shared_task(name="payments.purge_idempotency_records", ignore_result=True)
def purge_idempotency_records() -> int:
    """Delete the saved answers of Idempotency-Keys older than 24 hours."""
    return idempotency.idempotency_records_purge()
