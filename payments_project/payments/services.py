"""Writes of the payments service: charging an order, refunding a payment, giving up on stale ones.

Paying an order (`payment_create`) happens in three steps, so that no database transaction is open
while another system is waited for:

1. Read the order from the orders service (amount, currency, status) with the caller's token.
2. Insert the PENDING payment in a transaction of its own and commit it. The partial unique index
   "one PENDING payment per order" makes concurrent attempts for one order wait for each other
   here, and all but the first fail (409 payment_in_progress); one that comes after a payment
   succeeded finds it (409 order_already_paid).
3. Charge the provider, outside any transaction; then, in one transaction, record the outcome
   (SUCCEEDED or FAILED) and publish `payment.succeeded` or `payment.failed` through the outbox.

A payment is never left PENDING by a provider that times out or fails (it becomes FAILED); only a
process that dies between steps 2 and 3 leaves one, and `payment_expire_stale_pending` (a periodic
task) marks it FAILED ("abandoned") after five minutes.

Card testing (trying stolen card numbers on one order until one goes through) is bounded: once an
order has PAYMENT_MAX_FAILED_ATTEMPTS declined payments, step 2 refuses every further attempt (409
too_many_payment_attempts). The count is read from the payments themselves right after the PENDING
row is inserted, while this attempt holds the order's only PENDING slot, so concurrent attempts are
counted one after another and can never go past the bound. The customer is told every decline
as `card_declined` (`Payment.customer_failure_reason`); the provider's own reason stays on the
payment, for the admin.
"""

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status

from food_common.db import violates
from food_common.errors import (
    BadGateway,
    Conflict,
    DomainError,
    ErrorCode,
    NotFound,
    ServiceUnavailable,
)
from food_common.events.bus import publish
from food_common.http import UpstreamError
from payments import clients
from payments import provider as payment_provider
from payments.models import (
    ONE_PENDING_PER_ORDER,
    FailureReason,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from payments.provider import PaymentProvider, ProviderError, ProviderTimeout

logger = logging.getLogger(__name__)

# Order statuses (of the orders service) in which an order may be paid.
PAYABLE_ORDER_STATUSES = ("PLACED", "PAYMENT_FAILED")
STALE_PENDING_AFTER = timedelta(minutes=5)
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")  # what Payment.amount holds
CURRENCY = re.compile(r"^[A-Z]{3}$")


class PaymentErrorCode:
    ORDER_NOT_PAYABLE = "order_not_payable"
    ORDER_ALREADY_PAID = "order_already_paid"
    PAYMENT_IN_PROGRESS = "payment_in_progress"
    PAYMENT_NOT_REFUNDABLE = "payment_not_refundable"
    TOO_MANY_PAYMENT_ATTEMPTS = "too_many_payment_attempts"
    PROVIDER_TIMEOUT = "provider_timeout"
    PROVIDER_ERROR = "provider_error"


class Retryable:
    """Mixin of the errors after which nothing happened and the same request may work later.

    Their answers are not saved for the request's Idempotency-Key, so a retry with the same key
    runs again (Stripe does the same for requests that conflicted with a concurrent one).
    """


class OrderNotFound(NotFound):
    default_detail = "Order not found."


class OrderNotPayable(Conflict):
    default_code = PaymentErrorCode.ORDER_NOT_PAYABLE
    default_detail = "This order cannot be paid in its current status."


class OrderAlreadyPaid(Conflict):
    default_code = PaymentErrorCode.ORDER_ALREADY_PAID
    default_detail = "This order is already paid."


class PaymentInProgress(Retryable, Conflict):
    default_code = PaymentErrorCode.PAYMENT_IN_PROGRESS
    default_detail = (
        "Another payment of this order is being processed; check its outcome before trying again."
    )


class OrdersUnavailable(Retryable, ServiceUnavailable):
    default_detail = "The orders service is unavailable, so nothing was charged; try again shortly."


class OrdersBadGateway(Retryable, BadGateway):
    default_detail = "The orders service gave an answer payments cannot use; nothing was charged."


class TooManyPaymentAttempts(Conflict):
    default_code = PaymentErrorCode.TOO_MANY_PAYMENT_ATTEMPTS
    default_detail = (
        "This order's card was declined too many times; it cannot be paid any more. Place a new "
        "order to try again."
    )


class ProviderTimedOut(DomainError):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    default_code = PaymentErrorCode.PROVIDER_TIMEOUT
    default_detail = (
        "The payment provider did not answer in time, so the payment is marked FAILED; to try "
        "again, send a new request with a new Idempotency-Key."
    )


class ProviderFailed(BadGateway):
    default_code = PaymentErrorCode.PROVIDER_ERROR
    default_detail = (
        "The payment provider could not be reached. The payment is marked FAILED; to try again, "
        "send a new request with a new Idempotency-Key."
    )


class PaymentNotFound(NotFound):
    default_detail = "Payment not found."


class PaymentNotRefundable(Conflict):
    default_code = PaymentErrorCode.PAYMENT_NOT_REFUNDABLE
    default_detail = "Only a succeeded payment can be refunded."


class RefundFailed(BadGateway):
    default_code = PaymentErrorCode.PROVIDER_ERROR
    default_detail = "The payment provider did not refund the payment."


@dataclass(frozen=True)
class PayableOrder:
    """What the orders service said about the order to pay, checked for shape."""

    id: int
    status: str
    total: Decimal
    currency: str


# -- paying an order ---------------------------------------------------------------------------


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
) -> PayableOrder:
    """Ask the orders service about the order; return it if this customer may pay it now."""
    try:
        answer = orders.order_get(order_id=order_id, token=token)
    except clients.OrderNotFound:
        raise OrderNotFound() from None
    except UpstreamError as exc:
        logger.warning("orders unavailable while paying order %s: %s", order_id, exc)
        code = ErrorCode.UPSTREAM_TIMEOUT if exc.kind == "timeout" else None
        raise OrdersUnavailable(code=code, service="orders") from None
    except clients.OrdersBadAnswer as exc:
        logger.error("unusable orders answer for order %s: %s", order_id, exc)
        raise OrdersBadGateway(service="orders") from None
    try:
        if int(answer["id"]) != order_id:
            raise ValueError(f"asked for order {order_id}, got {answer['id']}")
        # The orders service also shows an order to its restaurant's owner and to admins; only
        # the customer who placed it pays it.
        if "customer_id" in answer and int(answer["customer_id"]) != customer_id:
            raise OrderNotFound()
        total = Decimal(str(answer["total"]))
        if not total.is_finite() or not CENT <= total <= MAX_AMOUNT:
            raise ValueError(f"total {total} cannot be charged")
        order = PayableOrder(
            id=order_id,
            status=str(answer["status"]),
            total=total.quantize(CENT),
            currency=str(answer["currency"]),
        )
        if not CURRENCY.match(order.currency):
            raise ValueError(f"currency {order.currency!r}")
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        logger.error("unusable orders answer for order %s: %r (%s)", order_id, answer, exc)
        raise OrdersBadGateway(service="orders") from None
    if order.status not in PAYABLE_ORDER_STATUSES:
        raise OrderNotPayable(order_status=order.status)
    return order


@transaction.atomic
def _payment_start(
    *,
    order: PayableOrder,
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
    _payment_decide(payment, succeeded=succeeded, reference=reference, reason=reason)
    return payment


def _payment_decide(
    payment: Payment, *, succeeded: bool, reference: str = "", reason: str = ""
) -> None:
    payment.status = PaymentStatus.SUCCEEDED if succeeded else PaymentStatus.FAILED
    payment.provider_reference = reference
    payment.failure_reason = "" if succeeded else reason[:100]
    payment.save(update_fields=["status", "provider_reference", "failure_reason", "updated_at"])
    data = _event_data(payment)
    if succeeded:
        publish("payment.succeeded", data)
    else:
        # The customer's view of the reason: consumers show it to the customer (history, email).
        publish("payment.failed", {**data, "reason": payment.customer_failure_reason})
    logger.info("payment %s of order %s %s", payment.pk, payment.order_id, payment.status.lower())


def _event_data(payment: Payment) -> dict:
    return {
        "payment_id": payment.pk,
        "order_id": payment.order_id,
        "amount": str(payment.amount),
        "currency": payment.currency,
        "customer_id": payment.customer_id,
        "customer_email": payment.customer_email,
    }


# -- refunds -----------------------------------------------------------------------------------


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
    publish("payment.refunded", _event_data(payment))
    logger.info("payment %s of order %s refunded (%s)", payment.pk, payment.order_id, reason)
    return refund


# -- the safety net ----------------------------------------------------------------------------


@transaction.atomic
def payment_expire_stale_pending(
    *, older_than: timedelta = STALE_PENDING_AFTER, limit: int = 500
) -> int:
    """Mark PENDING payments older than `older_than` FAILED ("abandoned"); return how many.

    Such a payment's request died between inserting it and recording the provider's answer.
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
        _payment_decide(payment, succeeded=False, reason=FailureReason.ABANDONED)
        expired += 1
    return expired
