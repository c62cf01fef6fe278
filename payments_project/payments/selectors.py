"""Reads of payments: what a caller may see (their own payments; an admin every one)."""

from django.db.models import QuerySet

from food_common.authentication import AuthenticatedUser
from payments.errors import PaymentNotFound
from payments.models import Payment, PaymentStatus


def payment_list(*, user: AuthenticatedUser, order_id: int | None = None) -> QuerySet[Payment]:
    """Return the payments `user` may see, newest first, only those of `order_id` if given."""
    payments = Payment.objects.prefetch_related("refunds").order_by("-created_at", "-id")
    if not user.is_admin:
        payments = payments.filter(customer_id=user.id)
    if order_id is not None:
        payments = payments.filter(order_id=order_id)
    return payments


def payment_get(*, user: AuthenticatedUser, payment_id: int) -> Payment:
    """Return one payment `user` may see, or raise PaymentNotFound (also for someone else's)."""
    try:
        return payment_list(user=user).get(pk=payment_id)
    except Payment.DoesNotExist:
        raise PaymentNotFound() from None


def payment_paid_for_order(*, order_id: int) -> Payment | None:
    """Return the payment that took the money of `order_id` (SUCCEEDED or REFUNDED), if any."""
    return Payment.objects.filter(
        order_id=order_id, status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED]
    ).first()
