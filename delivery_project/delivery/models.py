"""Riders, the deliveries of orders, the offers made to riders, and each delivery's timeline.

Orders, restaurants and users live in other services: a delivery keeps their ids (and the customer's
email) from the `order.ready` event, never a foreign key. A rider is the delivery profile of an
auth user whose role is `rider`.

The database enforces what concurrent dispatches must never break, whatever the code above it does:
a rider holds at most one active delivery (ASSIGNED or PICKED_UP), an order has one delivery (so one
rider), a rider has at most one PENDING offer and a delivery at most one, and a rider is offered a
delivery at most once. Dispatch relies on these constraints: an INSERT that breaks one fails, and
the dispatcher moves on to the next rider.

The rider's live position is not here but in Redis (delivery.positions); `Rider.last_*` is its
durable copy, written in bulk every RIDER_POSITION_FLUSH_SECONDS.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

# Names of the constraints the services recognise in an IntegrityError.
ONE_ACTIVE_DELIVERY_PER_RIDER = "delivery_one_active_per_rider"
ONE_PENDING_OFFER_PER_RIDER = "delivery_offer_one_pending_per_rider"
ONE_PENDING_OFFER_PER_DELIVERY = "delivery_offer_one_pending_per_delivery"
ONE_OFFER_PER_RIDER_AND_DELIVERY = "delivery_offer_once_per_rider"

# What Redis GEO can index (the Web Mercator bounds): a latitude beyond is no delivery address.
MAX_LATITUDE = 85.05112878
MAX_LONGITUDE = 180.0


def _on_earth(prefix: str, *, nullable: bool = False) -> Q:
    lat, lon = f"{prefix}_lat", f"{prefix}_lon"
    inside = Q(**{f"{lat}__gte": -MAX_LATITUDE, f"{lat}__lte": MAX_LATITUDE}) & Q(
        **{f"{lon}__gte": -MAX_LONGITUDE, f"{lon}__lte": MAX_LONGITUDE}
    )
    return inside | Q(**{f"{lat}__isnull": True, f"{lon}__isnull": True}) if nullable else inside


class VehicleType(models.TextChoices):
    BICYCLE = "bicycle"
    SCOOTER = "scooter"
    CAR = "car"


class Rider(models.Model):
    user_id = models.BigIntegerField(unique=True, help_text="Id of the rider in the auth service.")
    name = models.CharField(max_length=100)
    phone = models.CharField(max_length=32)
    vehicle_type = models.CharField(max_length=10, choices=VehicleType.choices)
    verified = models.BooleanField(
        default=False, help_text="Set by an admin; only verified riders get offers."
    )
    available = models.BooleanField(
        default=False, help_text="Set by the rider: on shift and willing to take offers."
    )
    last_lat = models.FloatField(null=True, blank=True)
    last_lon = models.FloatField(null=True, blank=True)
    last_seen_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the position above was reported (flushed from Redis).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(vehicle_type__in=VehicleType.values), name="rider_vehicle_type_valid"
            ),
            models.CheckConstraint(
                condition=_on_earth("last", nullable=True), name="rider_last_position_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Rider {self.pk} {self.name} ({self.vehicle_type})"


class DeliveryStatus(models.TextChoices):
    SEARCHING = "SEARCHING"  # looking for a rider (an offer may be pending)
    ASSIGNED = (
        "ASSIGNED"  # a rider accepted (or an admin assigned one), on the way to the restaurant
    )
    PICKED_UP = "PICKED_UP"
    DELIVERED = "DELIVERED"
    UNASSIGNED = "UNASSIGNED"  # nobody found in time; an admin assigns it by hand
    CANCELLED = "CANCELLED"  # its order was cancelled


# A rider holding a delivery in one of these holds no other.
ACTIVE_STATUSES = (DeliveryStatus.ASSIGNED, DeliveryStatus.PICKED_UP)
WITH_RIDER = (*ACTIVE_STATUSES, DeliveryStatus.DELIVERED)
WITHOUT_RIDER = (DeliveryStatus.SEARCHING, DeliveryStatus.UNASSIGNED)


class Delivery(models.Model):
    order_id = models.BigIntegerField(
        unique=True, help_text="Id of the order in the orders service."
    )
    customer_id = models.BigIntegerField()
    customer_email = models.EmailField(blank=True)
    restaurant_id = models.BigIntegerField()
    restaurant_owner_id = models.BigIntegerField()
    pickup_lat = models.FloatField()
    pickup_lon = models.FloatField()
    dropoff_lat = models.FloatField()
    dropoff_lon = models.FloatField()
    dropoff_address = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.SEARCHING
    )
    rider = models.ForeignKey(
        Rider, on_delete=models.PROTECT, null=True, blank=True, related_name="deliveries"
    )
    radius_km = models.FloatField(
        null=True, blank=True, help_text="The search radius of the last dispatch attempt."
    )
    created_at = models.DateTimeField(default=timezone.now)
    assigned_at = models.DateTimeField(null=True, blank=True)
    picked_up_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["customer_id", "-created_at"], name="delivery_customer_idx"),
            models.Index(fields=["restaurant_owner_id", "-created_at"], name="delivery_owner_idx"),
            models.Index(
                fields=["created_at"],
                condition=Q(status=DeliveryStatus.SEARCHING),
                name="delivery_searching_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="delivery_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=WITHOUT_RIDER, rider__isnull=True)
                | Q(status__in=WITH_RIDER, rider__isnull=False)
                | Q(status=DeliveryStatus.CANCELLED),
                name="delivery_rider_matches_status",
            ),
            models.CheckConstraint(condition=_on_earth("pickup"), name="delivery_pickup_valid"),
            models.CheckConstraint(condition=_on_earth("dropoff"), name="delivery_dropoff_valid"),
            # One rider, one active delivery: two dispatches (or an admin and a dispatch) that
            # give one rider two deliveries at once fail here.
            models.UniqueConstraint(
                fields=["rider"],
                condition=Q(status__in=ACTIVE_STATUSES),
                name=ONE_ACTIVE_DELIVERY_PER_RIDER,
            ),
        ]

    def __str__(self) -> str:
        return f"Delivery {self.pk} of order {self.order_id} ({self.status})"


class OfferStatus(models.TextChoices):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"
    WITHDRAWN = "WITHDRAWN"  # the delivery was cancelled or assigned otherwise meanwhile


class DeliveryOffer(models.Model):
    """A delivery offered to one rider, who accepts or declines it before `expires_at`."""

    delivery = models.ForeignKey(Delivery, on_delete=models.PROTECT, related_name="offers")
    rider = models.ForeignKey(Rider, on_delete=models.PROTECT, related_name="offers")
    status = models.CharField(
        max_length=10, choices=OfferStatus.choices, default=OfferStatus.PENDING
    )
    offered_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(
        null=True, blank=True, help_text="When it stopped being PENDING, whatever ended it."
    )
    radius_km = models.FloatField(help_text="The search radius the rider was found in.")
    distance_km = models.FloatField(help_text="The rider's distance from the restaurant then.")

    class Meta:
        ordering = ["offered_at", "id"]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=Q(status=OfferStatus.PENDING),
                name="delivery_offer_pending_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=OfferStatus.values), name="delivery_offer_status_valid"
            ),
            models.UniqueConstraint(
                fields=["rider"],
                condition=Q(status=OfferStatus.PENDING),
                name=ONE_PENDING_OFFER_PER_RIDER,
            ),
            models.UniqueConstraint(
                fields=["delivery"],
                condition=Q(status=OfferStatus.PENDING),
                name=ONE_PENDING_OFFER_PER_DELIVERY,
            ),
            # A rider who declined or let an offer expire is not asked again for that delivery.
            models.UniqueConstraint(
                fields=["delivery", "rider"], name=ONE_OFFER_PER_RIDER_AND_DELIVERY
            ),
        ]

    def __str__(self) -> str:
        return f"Offer {self.pk} of delivery {self.delivery_id} to rider {self.rider_id} ({self.status})"


class DeliveryStatusChange(models.Model):
    """One step of a delivery's timeline; the first one (from "" to SEARCHING) is its creation."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=12, choices=DeliveryStatus.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=DeliveryStatus.choices)
    at = models.DateTimeField(default=timezone.now)
    rider = models.ForeignKey(
        Rider, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    by_user_id = models.BigIntegerField(
        null=True, blank=True, help_text="Who made the change; empty when an event or a task did."
    )
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


class CancelledOrder(models.Model):
    """An order whose `order.cancelled` came before any `order.ready` (no delivery was opened).

    The two events travel separately, and a retried `order.ready` can arrive after the
    cancellation: it then finds this row and opens no delivery for a cancelled order.
    """

    order_id = models.BigIntegerField(unique=True)
    cancelled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-cancelled_at"]

    def __str__(self) -> str:
        return f"Order {self.order_id} cancelled before it was ready"
