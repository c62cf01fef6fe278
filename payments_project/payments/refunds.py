"""Refunding a payment in full: the cancel saga's handler and the admins ask for it."""

import logging

from django.db import transaction

from food_common.events.bus import publish
from payments import events
from payments import provider as payment_provider
from payments.errors import PaymentNotFound, PaymentNotRefundable, RefundFailed
from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from payments.provider import PaymentProvider, ProviderError

logger = logging.getLogger(__name__)


@transaction.atomic
def payment_refund(
    *,
    payment_id: int,
    reason: str,
    by_user_id: int | None = None,
    provider: PaymentProvider | None = None,
) -> Refund:
    """Give the whole amount of a SUCCEEDED payment back; return the refund.

    Idempotent: for a payment already REFUNDED, return its refund and do nothing else. Raise
    PaymentNotFound (404), PaymentNotRefundable (409) for a payment that never took money, and
    RefundFailed (502) when the provider does not refund; the event handler lets that fail, so
    the bus retries it and finally dead-letters it.

    The payment row stays locked while the provider is asked, so concurrent refunds (the cancel
    saga and an admin) ask once; the provider-side key `refund-<payment id>` makes a retry after
    a crash return the first refund instead of a second one.
    """
    try:
        payment = Payment.objects.select_for_update().get(pk=payment_id)
    except Payment.DoesNotExist:
        raise PaymentNotFound() from None
    if payment.status == PaymentStatus.REFUNDED:
        return payment.refunds.get()
    if payment.status != PaymentStatus.SUCCEEDED:
        raise PaymentNotRefundable(payment_status=payment.status)
    try:
        result = (provider or payment_provider.get_provider()).refund(
            reference=payment.provider_reference,
            amount=payment.amount,
            idempotency_key=f"refund-{payment.pk}",
        )
    except ProviderError as exc:
        raise RefundFailed(
            f"The payment provider did not refund payment {payment.pk}: {exc}",
            payment_id=payment.pk,
        ) from exc
    if not result.succeeded:
        raise RefundFailed(
            f"The payment provider refused to refund payment {payment.pk}: "
            f"{result.failure_reason or 'no reason given'}",
            payment_id=payment.pk,
        )
    refund = Refund.objects.create(
        payment=payment,
        amount=payment.amount,
        provider_reference=result.reference,
        status=RefundStatus.SUCCEEDED,
        reason=reason[:200],
        by_user_id=by_user_id,
    )
    payment.status = PaymentStatus.REFUNDED
    payment.save(update_fields=["status", "updated_at"])
    publish("payment.refunded", events.payment_refunded_data(payment))
    logger.info("payment %s of order %s refunded (%s)", payment.pk, payment.order_id, reason)
    return refund
