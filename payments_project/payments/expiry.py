"""The safety net: payments left PENDING by a request that died are marked FAILED ("abandoned").

Such a payment's request died between inserting it and recording the provider's answer
(`payments.charging`); a periodic task (`payments.expire_stale_pending`) runs this.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from payments.charging import payment_decide
from payments.models import FailureReason, Payment, PaymentStatus

logger = logging.getLogger(__name__)

STALE_PENDING_AFTER = timedelta(minutes=5)


@transaction.atomic
def payment_expire_stale_pending(
    *, older_than: timedelta = STALE_PENDING_AFTER, limit: int = 500
) -> int:
    """Mark PENDING payments older than `older_than` FAILED ("abandoned"); return how many.

    Rows a live request is finishing right now are skipped (locked), not waited for.
    """
    cutoff = timezone.now() - older_than
    stale = (
        Payment.objects.select_for_update(skip_locked=True)
        .filter(status=PaymentStatus.PENDING, created_at__lt=cutoff)
        .order_by("created_at")[:limit]
    )
    expired = 0
    for payment in stale:
        logger.warning(
            "payment %s of order %s abandoned while PENDING", payment.pk, payment.order_id
        )
        payment_decide(payment, succeeded=False, reason=FailureReason.ABANDONED)
        expired += 1
    return expired
