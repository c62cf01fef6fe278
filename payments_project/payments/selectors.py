"""Reads of payments: what a caller may see (their own payments; an admin every one), and the
payments part of an order's trail."""

from django.db.models import QuerySet

from food_common.authentication import AuthenticatedUser
from food_common.events.trail import admin_change_url, event_records
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


def order_trail_part(*, order_id: int, event_ids) -> dict:
    """Return the payments part of an order's trail: the events and the payments and refunds of it.

    `event_ids`: the other services' events about the order, whose handling here is wanted.
    """
    part = event_records(key="order_id", value=order_id, other_event_ids=event_ids)
    payments = Payment.objects.filter(order_id=order_id).prefetch_related("refunds")
    rows = []
    for payment in payments.order_by("created_at", "id"):
        url = admin_change_url(payment)
        refunds = [
            {
                "id": refund.pk,
                "amount": str(refund.amount),
                "status": refund.status,
                "reason": refund.reason,
                "by_user_id": refund.by_user_id,
                "created_at": refund.created_at.isoformat(),
            }
            for refund in payment.refunds.all()
        ]
        rows.append(
            {
                "id": payment.pk,
                "status": payment.status,
                "amount": str(payment.amount),
                "currency": payment.currency,
                "failure_reason": payment.failure_reason,
                "card_last4": payment.card_last4,
                "created_at": payment.created_at.isoformat(),
                "updated_at": payment.updated_at.isoformat(),
                "refunds": refunds,
                "url": url,
            }
        )
        detail = f"{payment.amount} {payment.currency}"
        if payment.card_last4:
            detail += f", card ending {payment.card_last4}"
        if payment.failure_reason:
            detail += f", {payment.failure_reason}"
        part["records"].append(
            {
                "at": payment.created_at.isoformat(),
                "what": f"payment {payment.pk} ({payment.status} now)",
                "detail": f"{detail}; last change {payment.updated_at.isoformat()}",
                "url": url,
            }
        )
        for refund in refunds:
            part["records"].append(
                {
                    "at": refund["created_at"],
                    "what": f"refund {refund['id']} of payment {payment.pk}",
                    "detail": f"{refund['amount']} {payment.currency}: {refund['reason']}",
                    "url": url,
                }
            )
        if payment.status == PaymentStatus.PENDING:
            part["problems"].append(
                f"payment {payment.pk} is PENDING since {payment.created_at.isoformat()} "
                "(the provider has not answered; abandoned ones are failed by beat)"
            )
    part["payments"] = rows
    return part
