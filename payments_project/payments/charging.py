"""Paying an order: charging its total once, however many attempts run at the same time.

`payment_create` happens in three steps, so that no database transaction is open while another
system is waited for:

1. Read the order from the orders service (amount, currency, whether it may be paid now) with the
   caller's token.
2. Insert the PENDING payment in a transaction of its own and commit it. The partial unique index
   "one PENDING payment per order" makes concurrent attempts for one order wait for each other
   here, and all but the first fail (409 payment_in_progress); one that comes after a payment
   succeeded finds it (409 order_already_paid).
3. Charge the provider, outside any transaction; then, in one transaction, record the outcome
   (SUCCEEDED or FAILED) and publish `payment.succeeded` or `payment.failed` through the outbox.

A payment is never left PENDING by a provider that times out or fails (it becomes FAILED); only a
process that dies between steps 2 and 3 leaves one, and `payments.expiry` marks it FAILED
("abandoned") after five minutes.

Card testing (trying stolen card numbers on one order until one goes through) is bounded: once an
order has PAYMENT_MAX_FAILED_ATTEMPTS declined payments, step 2 refuses every further attempt (409
too_many_payment_attempts). The count is read from the payments themselves right after the PENDING
row is inserted, while this attempt holds the order's only PENDING slot, so concurrent attempts are
counted one after another and can never go past the bound. The customer is told every decline
as `card_declined` (`Payment.customer_failure_reason`); the provider's own reason stays on the
payment, for the admin.
"""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction

from food_common.db import violates
from food_common.errors import ErrorCode
from food_common.events.bus import publish
from food_common.http import UpstreamError
from payments import clients, events
from payments import provider as payment_provider
from payments.errors import (
    OrderAlreadyPaid,
    OrderNotFound,
    OrderNotPayable,
    OrdersBadGateway,
    OrdersUnavailable,
    PaymentInProgress,
    ProviderFailed,
    ProviderTimedOut,
    TooManyPaymentAttempts,
)
from payments.models import ONE_PENDING_PER_ORDER, FailureReason, Payment, PaymentStatus
from payments.provider import PaymentProvider, ProviderError, ProviderTimeout

logger = logging.getLogger(__name__)


def payment_create(
    *,
    order_id: int,
    card_number: str,
    customer_id: int,
    customer_email: str,
    idempotency_key: str = "",
    token: str | None = None,
    orders: clients.Orders | None = None,
    provider: PaymentProvider | None = None,
) -> Payment:
    """Charge `card_number` the total of the caller's order `order_id`; return the payment.

    The returned payment is SUCCEEDED, or FAILED when the card was declined (`failure_reason`
    says why). Raise OrderNotFound (404), OrderNotPayable / OrderAlreadyPaid / PaymentInProgress /
    TooManyPaymentAttempts (409), OrdersUnavailable (503), OrdersBadGateway (502) before anything
    is charged; and ProviderTimedOut (504) or ProviderFailed (502) after the payment was marked
    FAILED. Not atomic on purpose: see the module docstring.
    """
    order = _payable_order(
        orders or clients.get_orders_client(),
        order_id=order_id,
        customer_id=customer_id,
        token=token,
    )
    payment = _payment_start(
        order=order,
        customer_id=customer_id,
        customer_email=customer_email,
        card_last4=card_number[-4:],
        idempotency_key=idempotency_key,
    )
    try:
        result = (provider or payment_provider.get_provider()).charge(
            amount=payment.amount,
            currency=payment.currency,
            card_number=card_number,
            # One provider-side key per payment row: retrying this charge can never charge twice,
            # and a new payment of the same order (after a decline) is a new charge.
            idempotency_key=f"charge-{payment.pk}",
        )
    except ProviderTimeout:
        logger.warning("payment %s: the provider timed out", payment.pk)
        _payment_finish(payment.pk, succeeded=False, reason=FailureReason.PROVIDER_TIMEOUT)
        raise ProviderTimedOut(payment_id=payment.pk) from None
    except Exception as exc:
        # Whatever went wrong, this payment is decided now rather than left PENDING.
        logger.exception("payment %s: the provider failed", payment.pk)
        _payment_finish(payment.pk, succeeded=False, reason=FailureReason.PROVIDER_ERROR)
        if isinstance(exc, ProviderError):
            raise ProviderFailed(payment_id=payment.pk) from None
        raise
    return _payment_finish(
        payment.pk,
        succeeded=result.succeeded,
        reference=result.reference,
        reason="" if result.succeeded else (result.failure_reason or "declined"),
    )


def _payable_order(
    orders: clients.Orders, *, order_id: int, customer_id: int, token: str | None
) -> clients.PayableOrder:
    """Ask the orders service about the order; return it if this customer may pay it now."""
    try:
        order = orders.order_get(order_id=order_id, token=token)
    except clients.OrderNotFound:
        raise OrderNotFound() from None
    except UpstreamError as exc:
        logger.warning("orders unavailable while paying order %s: %s", order_id, exc)
        code = ErrorCode.UPSTREAM_TIMEOUT if exc.kind == "timeout" else None
        raise OrdersUnavailable(code=code, service="orders") from None
    except clients.OrdersBadAnswer as exc:
        logger.error("unusable orders answer for order %s: %s", order_id, exc)
        raise OrdersBadGateway(service="orders") from None
    # The orders service also shows an order to its restaurant's owner and to admins; only the
    # customer who placed it pays it.
    if order.customer_id is not None and order.customer_id != customer_id:
        raise OrderNotFound()
    if not order.payable:
        raise OrderNotPayable(order_status=order.status)
    return order


@transaction.atomic
def _payment_start(
    *,
    order: clients.PayableOrder,
    customer_id: int,
    customer_email: str,
    card_last4: str,
    idempotency_key: str,
) -> Payment:
    """Insert and commit the PENDING payment that reserves the order for this attempt."""
    _ensure_not_paid(order.id)
    _ensure_attempts_left(order.id)
    payment = Payment(
        order_id=order.id,
        customer_id=customer_id,
        customer_email=customer_email,
        amount=order.total,
        currency=order.currency,
        status=PaymentStatus.PENDING,
        card_last4=card_last4,
        idempotency_key=idempotency_key,
    )
    try:
        # When another attempt has inserted but not committed yet, PostgreSQL makes this INSERT
        # wait on the unique index until that transaction ends.
        with transaction.atomic():
            payment.save(force_insert=True)
    except IntegrityError as exc:
        if violates(exc, ONE_PENDING_PER_ORDER):
            raise PaymentInProgress() from None
        raise
    # Again, now that this attempt holds the order: a payment that succeeded or was declined (and
    # left PENDING) between the first checks and the INSERT is visible to these new statements,
    # and no other attempt can be decided until this one is. Raising rolls the INSERT back.
    _ensure_not_paid(order.id)
    _ensure_attempts_left(order.id)
    return payment


def _ensure_not_paid(order_id: int) -> None:
    paid = (
        Payment.objects.filter(
            order_id=order_id, status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED]
        )
        .values_list("pk", flat=True)
        .first()
    )
    if paid is not None:
        raise OrderAlreadyPaid(payment_id=paid)


def _ensure_attempts_left(order_id: int) -> None:
    """Raise TooManyPaymentAttempts once the order has PAYMENT_MAX_FAILED_ATTEMPTS declines.

    Only declines count: a provider that timed out or failed, or an abandoned attempt, says
    nothing about the card, and is no reason to stop the customer.
    """
    limit = settings.PAYMENT_MAX_FAILED_ATTEMPTS
    declined = (
        Payment.objects.filter(order_id=order_id, status=PaymentStatus.FAILED)
        .exclude(failure_reason__in=FailureReason.NOT_DECLINES)
        .count()
    )
    if declined >= limit:
        raise TooManyPaymentAttempts(max_failed_attempts=limit)


@transaction.atomic
def _payment_finish(
    payment_id: int, *, succeeded: bool, reference: str = "", reason: str = ""
) -> Payment:
    """Record the provider's answer on a PENDING payment, with its event."""
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    if payment.status != PaymentStatus.PENDING:
        # Only the stale sweep gets here first, minutes after the provider should have answered.
        logger.error(
            "payment %s was %s before the provider answered (%s, reference %r): reconcile it",
            payment.pk,
            payment.status,
            "succeeded" if succeeded else f"failed: {reason}",
            reference,
        )
        return payment
    payment_decide(payment, succeeded=succeeded, reference=reference, reason=reason)
    return payment


def payment_decide(
    payment: Payment, *, succeeded: bool, reference: str = "", reason: str = ""
) -> None:
    """Mark a locked PENDING payment SUCCEEDED or FAILED (`reason`) and publish its event."""
    payment.status = PaymentStatus.SUCCEEDED if succeeded else PaymentStatus.FAILED
    payment.provider_reference = reference
    payment.failure_reason = "" if succeeded else reason[:100]
    payment.save(update_fields=["status", "provider_reference", "failure_reason", "updated_at"])
    if succeeded:
        publish("payment.succeeded", events.payment_succeeded_data(payment))
    else:
        publish("payment.failed", events.payment_failed_data(payment))
    logger.info("payment %s of order %s %s", payment.pk, payment.order_id, payment.status.lower())
