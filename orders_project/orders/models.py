"""Orders, their lines as priced at placement, and the history of their status.

Users and restaurants live in other services: orders keep their ids (and the customer's email from
the access token), never a foreign key. The status only changes through `orders.services`, which
follows `orders.state_machine`. An order's delivery lives in the delivery service: the order keeps
what its events told (the delivery's id and progress, the rider's name and vehicle).
"""

from django.db import models
from django.utils import timezone


class OrderStatus(models.TextChoices):
    PLACED = "PLACED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    PAID = "PAID"
    ACCEPTED = "ACCEPTED"
    PREPARING = "PREPARING"
    READY = "READY"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"


class DeliveryProgress(models.TextChoices):
    """How far the order's delivery got, as the delivery service's events told it."""

    UNASSIGNED = "UNASSIGNED"  # nobody took it in time: an admin assigns a rider by hand
    ASSIGNED = "ASSIGNED"
    PICKED_UP = "PICKED_UP"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


# Positions: the range the delivery service's Redis GEO index takes.
MAX_LATITUDE = 85.05112878
MAX_LONGITUDE = 180.0


def _money(max_digits: int = 12, **kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=max_digits, decimal_places=2, **kwargs)


def _position_check(prefix: str) -> models.CheckConstraint:
    """Both coordinates of a position or neither, and in range (a NULL passes a CHECK, hence
    the explicit "not null")."""
    lat, lon = f"{prefix}_lat", f"{prefix}_lon"
    return models.CheckConstraint(
        condition=models.Q(**{f"{lat}__isnull": True, f"{lon}__isnull": True})
        | models.Q(
            **{
                f"{lat}__isnull": False,
                f"{lon}__isnull": False,
                f"{lat}__gte": -MAX_LATITUDE,
                f"{lat}__lte": MAX_LATITUDE,
                f"{lon}__gte": -MAX_LONGITUDE,
                f"{lon}__lte": MAX_LONGITUDE,
            }
        ),
        name=f"order_{prefix}_position_both_or_none_in_range",
    )


class Order(models.Model):
    customer_id = models.BigIntegerField(help_text="Id of the customer in the auth service.")
    customer_email = models.EmailField(blank=True, help_text="From the customer's access token.")
    restaurant_id = models.BigIntegerField(help_text="Id of the restaurant in the catalog service.")
    restaurant_owner_id = models.BigIntegerField(
        help_text="Id of the restaurant's owner when the order was placed."
    )
    delivery_address = models.CharField(max_length=500)
    # Required at placement; NULL only on orders placed before orders had positions (no delivery
    # is opened for them: orders.transitions).
    delivery_lat = models.FloatField(null=True, blank=True, help_text="Where to: degrees north.")
    delivery_lon = models.FloatField(null=True, blank=True, help_text="Where to: degrees east.")
    pickup_lat = models.FloatField(
        null=True, blank=True, help_text="The restaurant's position at placement: degrees north."
    )
    pickup_lon = models.FloatField(
        null=True, blank=True, help_text="The restaurant's position at placement: degrees east."
    )
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.PLACED
    )
    subtotal = _money()
    total = _money()
    currency = models.CharField(max_length=3)
    # NULL (not "") when the request had no Idempotency-Key: "no key" is not a value to be unique.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(  # noqa: DJ001
        max_length=64, null=True, blank=True, help_text="sha256 of the placing request's body."
    )
    refund_pending = models.BooleanField(
        default=False,
        help_text="Cancelled after it was paid, and the refund has not been confirmed yet.",
    )
    delivery_id = models.BigIntegerField(
        null=True, blank=True, help_text="Id of the order's delivery in the delivery service."
    )
    delivery_progress = models.CharField(
        max_length=20,
        choices=DeliveryProgress.choices,
        blank=True,
        help_text="How far the delivery got, from its events; empty until the first one.",
    )
    rider_name = models.CharField(max_length=200, blank=True)
    rider_vehicle_type = models.CharField(
        max_length=20, blank=True, help_text="As the delivery service names it (bicycle, ...)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The three lists: a customer's, a restaurant owner's, everyone's (admin); newest first.
            models.Index(fields=["customer_id", "-created_at", "-id"], name="order_customer_idx"),
            models.Index(
                fields=["restaurant_owner_id", "-created_at", "-id"], name="order_owner_idx"
            ),
            models.Index(fields=["-created_at", "-id"], name="order_created_idx"),
            models.Index(fields=["restaurant_id", "-created_at"], name="order_restaurant_idx"),
        ]
        constraints = [
            # Also what makes concurrent requests with one Idempotency-Key create one order.
            models.UniqueConstraint(
                fields=["customer_id", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="order_idempotency_key_unique_per_customer",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=OrderStatus.values), name="order_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(subtotal__gte=0, total__gte=0), name="order_amounts_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(idempotency_key__isnull=True, request_fingerprint__isnull=True)
                | models.Q(idempotency_key__isnull=False, request_fingerprint__isnull=False),
                name="order_idempotency_key_has_fingerprint",
            ),
            _position_check("delivery"),
            _position_check("pickup"),
        ]

    def __str__(self) -> str:
        return f"Order {self.pk} ({self.status})"


class OrderItem(models.Model):
    """One line of an order: the menu item's name and price as the catalog gave them at placement."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    menu_item_id = models.BigIntegerField()
    name = models.CharField(max_length=200)
    unit_price = _money(max_digits=10)
    quantity = models.PositiveSmallIntegerField()
    line_total = _money()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "menu_item_id"], name="order_item_menu_item_once_per_order"
            ),
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="order_item_quantity"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.name}"


class OrderStatusChange(models.Model):
    """One step of an order's history; the first one (from "" to PLACED) is its creation."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20, choices=OrderStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=OrderStatus.choices)
    at = models.DateTimeField(default=timezone.now)
    by_user_id = models.BigIntegerField(
        null=True, blank=True, help_text="Who made the change; empty when an event made it."
    )
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"
