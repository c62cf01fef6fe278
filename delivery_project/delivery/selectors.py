"""Reads of the delivery service: who may see which delivery, riders, offers, live positions.

A delivery is visible to its order's customer, its restaurant's owner, its rider, the rider it is
offered to right now, and admins; to anyone else it does not exist (404). Users are auth user ids,
one role each, so the rule needs no role.
"""

import logging

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from delivery import positions
from delivery.errors import DeliveryNotFound, RiderProfileMissing
from delivery.models import (
    ACTIVE_STATUSES,
    CancelledOrder,
    Delivery,
    DeliveryOffer,
    DeliveryStatus,
    OfferStatus,
    Rider,
)
from food_common.authentication import AuthenticatedUser
from food_common.events.trail import admin_change_url, event_records

logger = logging.getLogger(__name__)


def delivery_list(*, user: AuthenticatedUser, order_id: int | None = None) -> QuerySet[Delivery]:
    """Return the deliveries `user` may see, newest first, only the one of `order_id` if given."""
    deliveries = Delivery.objects.select_related("rider").order_by("-created_at", "-id")
    if not user.is_admin:
        offered_now = DeliveryOffer.objects.filter(
            delivery=OuterRef("pk"), rider__user_id=user.id, status=OfferStatus.PENDING
        )
        deliveries = deliveries.filter(
            Q(customer_id=user.id)
            | Q(restaurant_owner_id=user.id)
            | Q(rider__user_id=user.id)
            | Exists(offered_now)
        )
    if order_id is not None:
        deliveries = deliveries.filter(order_id=order_id)
    return deliveries


def delivery_get(*, user: AuthenticatedUser, delivery_id: int) -> Delivery:
    """Return one delivery `user` may see (with its rider's live position); else DeliveryNotFound."""
    queryset = delivery_list(user=user)
    if user.is_admin:
        queryset = queryset.prefetch_related("offers", "status_changes")
    delivery = queryset.filter(pk=delivery_id).first()
    if delivery is None:
        raise DeliveryNotFound()
    with_rider_positions([delivery])
    return delivery


def with_rider_positions(deliveries: list[Delivery]) -> list[Delivery]:
    """Set `rider_position` ({lat, lon, at} or None) on each delivery under way.

    Read from Redis (the live position); the riders' rows (the last flush) when Redis is away.
    Only while the rider has the delivery (ASSIGNED, PICKED_UP): never before nor after.
    """
    under_way = [d for d in deliveries if d.status in ACTIVE_STATUSES and d.rider_id]
    for delivery in deliveries:
        delivery.rider_position = None
    if not under_way:
        return deliveries
    try:
        live = positions.rider_positions(user_ids=[d.rider.user_id for d in under_way])
    except positions.REDIS_ERRORS as exc:
        logger.warning("live rider positions unavailable, showing the last flushed: %s", exc)
        live = {}
    for delivery in under_way:
        rider = delivery.rider
        delivery.rider_position = live.get(rider.user_id) or (
            {"lat": rider.last_lat, "lon": rider.last_lon, "at": rider.last_seen_at}
            if rider.last_seen_at
            else None
        )
    return deliveries


def rider_get_own(*, user_id: int) -> Rider:
    """Return the caller's rider profile with its live position; raise RiderProfileMissing."""
    rider = Rider.objects.filter(user_id=user_id).first()
    if rider is None:
        raise RiderProfileMissing()
    try:
        rider.position = positions.rider_positions(user_ids=[user_id]).get(user_id)
    except positions.REDIS_ERRORS:
        rider.position = None
    if rider.position is None and rider.last_seen_at:
        rider.position = {"lat": rider.last_lat, "lon": rider.last_lon, "at": rider.last_seen_at}
    return rider


def rider_list(*, verified: bool | None = None, available: bool | None = None) -> QuerySet[Rider]:
    """Return riders (for admins), newest first, filtered."""
    riders = Rider.objects.order_by("-created_at", "-id")
    if verified is not None:
        riders = riders.filter(verified=verified)
    if available is not None:
        riders = riders.filter(available=available)
    return riders


def offers_pending(*, user_id: int) -> QuerySet[DeliveryOffer]:
    """Return the rider's pending offers that have not run out (at most one), soonest first."""
    return (
        DeliveryOffer.objects.select_related("delivery")
        .filter(rider__user_id=user_id, status=OfferStatus.PENDING, expires_at__gt=timezone.now())
        .order_by("expires_at", "id")
    )


def order_trail_part(*, order_id: int, event_ids) -> dict:
    """Return the delivery part of an order's trail: its events, and its delivery with the
    delivery's timeline and offers (or that the order was cancelled before it had one)."""
    part = event_records(key="order_id", value=order_id, other_event_ids=event_ids)
    delivery = (
        Delivery.objects.prefetch_related("status_changes", "offers")
        .filter(order_id=order_id)
        .first()
    )
    part["delivery"] = None
    if delivery is None:
        cancelled = CancelledOrder.objects.filter(order_id=order_id).first()
        if cancelled:
            part["records"].append(
                {
                    "at": cancelled.cancelled_at.isoformat(),
                    "what": "no delivery: the order was cancelled before it was ready",
                    "detail": "",
                    "url": "",
                }
            )
        return part
    url = admin_change_url(delivery)
    timeline = [
        {
            "at": change.at.isoformat(),
            "from_status": change.from_status,
            "to_status": change.to_status,
            "rider_id": change.rider_id,
            "reason": change.reason,
        }
        for change in delivery.status_changes.all()
    ]
    offers = [
        {
            "id": offer.pk,
            "rider_id": offer.rider_id,
            "status": offer.status,
            "offered_at": offer.offered_at.isoformat(),
            "answered_at": offer.answered_at.isoformat() if offer.answered_at else None,
            "distance_km": offer.distance_km,
        }
        for offer in delivery.offers.all()
    ]
    part["delivery"] = {
        "id": delivery.pk,
        "status": delivery.status,
        "rider_id": delivery.rider_id,
        "url": url,
        "timeline": timeline,
        "offers": offers,
    }
    for step in timeline:
        rider = f"rider {step['rider_id']}" if step["rider_id"] else "no rider"
        part["records"].append(
            {
                "at": step["at"],
                "what": f"delivery {delivery.pk} {step['from_status'] or '(new)'} → "
                f"{step['to_status']}",
                "detail": f"{rider}{': ' + step['reason'] if step['reason'] else ''}",
                "url": url,
            }
        )
    for offer in offers:
        part["records"].append(
            {
                "at": offer["offered_at"],
                "what": f"offer {offer['id']} to rider {offer['rider_id']}",
                "detail": f"{offer['status']}, {offer['distance_km']:.1f} km from the restaurant",
                "url": url,
            }
        )
    if delivery.status == DeliveryStatus.UNASSIGNED:
        part["problems"].append(
            f"delivery {delivery.pk} is UNASSIGNED: no rider took it; an admin must assign one"
        )
    return part
