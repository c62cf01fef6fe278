"""Payments of orders, their refunds, and the saved answers of idempotent requests.

Orders and users live in other services: a payment keeps their ids (and the customer's email from
the access token), never a foreign key. Card numbers are never stored: only their last four digits.
The database enforces what concurrent requests must not break: at most one payment per order in
flight (PENDING) and at most one that took the money (SUCCEEDED, or REFUNDED after it).

`MockProviderCharge` and `MockProviderRefund` are not the service's records: they are what the mock
payment provider (payments.provider) remembers on its side, as a real provider would on its own
servers. They live in this database rather than in the system's Redis, so that an outage of our
Redis (which only delays events) is never mistaken for an outage of the provider.
"""

from django.db import models
from django.db.models import Q


class PaymentStatus(models.TextChoices):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REFUNDED = "REFUNDED"


class FailureReason:
    """`Payment.failure_reason` values set by this service (a provider's decline codes add more)."""

    PROVIDER_TIMEOUT = "provider_timeout"
    PROVIDER_ERROR = "provider_error"
    ABANDONED = "abandoned"
    # Failures that say nothing about the card (every other reason is the provider's decline).
    NOT_DECLINES = frozenset({PROVIDER_TIMEOUT, PROVIDER_ERROR, ABANDONED})
    # What the customer is told of any decline: "declined" and "insufficient funds" told apart
    # would tell a card tester which stolen numbers are live.
    CARD_DECLINED = "card_declined"


# Names of the constraints the services recognise in an IntegrityError.
ONE_PENDING_PER_ORDER = "payment_one_pending_per_order"
ONE_PAID_PER_ORDER = "payment_one_paid_per_order"


def _money(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=12, decimal_places=2, **kwargs)


class Payment(models.Model):
    order_id = models.BigIntegerField(help_text="Id of the order in the orders service.")
    customer_id = models.BigIntegerField(help_text="Id of the paying customer in the auth service.")
    customer_email = models.EmailField(blank=True, help_text="From the customer's access token.")
    amount = _money(help_text="The order's total when it was paid, as the orders service said.")
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    provider_reference = models.CharField(max_length=100, blank=True)
    failure_reason = models.CharField(max_length=100, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    idempotency_key = models.CharField(
        max_length=255, blank=True, help_text="The Idempotency-Key of the request that made it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer_id", "-created_at", "-id"], name="payment_customer_idx"),
            models.Index(fields=["order_id", "-created_at"], name="payment_order_idx"),
            models.Index(fields=["-created_at", "-id"], name="payment_created_idx"),
            models.Index(
                fields=["created_at"],
                condition=Q(status=PaymentStatus.PENDING),
                name="payment_pending_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(status__in=PaymentStatus.values), name="payment_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(card_last4="") | Q(card_last4__regex=r"^[0-9]{4}$"),
                name="payment_card_last4_only",
            ),
            # Concurrent attempts to pay one order: the first INSERT holds this slot until its
            # payment is decided, every other one fails (→ 409 payment_in_progress).
            models.UniqueConstraint(
                fields=["order_id"],
                condition=Q(status=PaymentStatus.PENDING),
                name=ONE_PENDING_PER_ORDER,
            ),
            # An order is charged at most once, whatever happens later to that payment.
            models.UniqueConstraint(
                fields=["order_id"],
                condition=Q(status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED]),
                name=ONE_PAID_PER_ORDER,
            ),
        ]

    def __str__(self) -> str:
        return f"Payment {self.pk} of order {self.order_id} ({self.status})"

    @property
    def customer_failure_reason(self) -> str:
        """Return the failure reason the customer may see: every decline is "card_declined"."""
        if not self.failure_reason or self.failure_reason in FailureReason.NOT_DECLINES:
            return self.failure_reason
        return FailureReason.CARD_DECLINED


class RefundStatus(models.TextChoices):
    # A refund the provider refuses is not recorded: the refund raises, and the event bus retries
    # it, then dead-letters it.
    SUCCEEDED = "SUCCEEDED"


class Refund(models.Model):
    """Money given back for a payment; always the whole amount, so at most one per payment."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = _money()
    provider_reference = models.CharField(max_length=100)
    status = models.CharField(
        max_length=10, choices=RefundStatus.choices, default=RefundStatus.SUCCEEDED
    )
    reason = models.CharField(max_length=200, blank=True)
    by_user_id = models.BigIntegerField(
        null=True, blank=True, help_text="The admin who asked for it; empty when an event did."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.UniqueConstraint(fields=["payment"], name="refund_one_per_payment"),
        ]

    def __str__(self) -> str:
        return f"Refund {self.pk} of payment {self.payment_id}"


class IdempotencyStatus(models.TextChoices):
    PROCESSING = "processing"
    DONE = "done"


class IdempotencyRecord(models.Model):
    """The first answer to a customer's `Idempotency-Key`, replayed to retries for 24 hours."""

    customer_id = models.BigIntegerField()
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(
        max_length=64, help_text="Keyed sha256 of the request's canonical JSON body."
    )
    status = models.CharField(
        max_length=10, choices=IdempotencyStatus.choices, default=IdempotencyStatus.PROCESSING
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["customer_id", "key"], name="idempotency_key_unique_per_customer"
            ),
            models.CheckConstraint(
                condition=Q(status=IdempotencyStatus.PROCESSING)
                | Q(response_status__isnull=False, response_body__isnull=False),
                name="idempotency_done_has_response",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} of customer {self.customer_id} ({self.status})"


# -- the mock provider's side ------------------------------------------------------------------


class MockProviderCharge(models.Model):
    """A charge the mock provider answered: replayed for its idempotency key, refundable if it succeeded."""

    idempotency_key = models.CharField(max_length=255, unique=True)
    reference = models.CharField(max_length=100, unique=True)
    amount = _money()
    currency = models.CharField(max_length=3)
    succeeded = models.BooleanField()
    failure_reason = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Mock charge {self.reference} ({'succeeded' if self.succeeded else 'declined'})"


class MockProviderRefund(models.Model):
    """A refund the mock provider made of one of its charges, replayed for its idempotency key."""

    idempotency_key = models.CharField(max_length=255, unique=True)
    reference = models.CharField(max_length=100, unique=True)
    charge = models.ForeignKey(MockProviderCharge, on_delete=models.PROTECT, related_name="refunds")
    amount = _money()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Mock refund {self.reference} of {self.charge.reference}"
