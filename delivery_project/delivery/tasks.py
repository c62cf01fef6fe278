"""Tasks of the delivery worker (queue "delivery"): offer expiries, and the beat's periodic sweeps."""

import logging

from celery import shared_task

from delivery import positions, services
from delivery.services.dispatch import EXPIRE_OFFER_TASK

logger = logging.getLogger(__name__)


@shared_task(name=EXPIRE_OFFER_TASK, ignore_result=True, acks_late=True)
def expire_offer(offer_id: int) -> bool:
    """Expire an offer nobody answered in time and offer its delivery to the next rider."""
    return services.offer_expire(offer_id=offer_id)


@shared_task(name="delivery.dispatch_sweep", ignore_result=True, acks_late=True)
def dispatch_sweep() -> int:
    """Expire overdue offers, and dispatch again every delivery still searching (radius grows)."""
    offered = services.dispatch_sweep()
    if offered:
        logger.info("dispatch sweep: %d offer(s) made", offered)
    return offered


@shared_task(name="delivery.flush_positions", ignore_result=True, acks_late=True)
def flush_positions() -> int:
    """Write the riders' last positions from Redis to their rows (one bulk UPDATE per batch)."""
    return positions.positions_flush()
