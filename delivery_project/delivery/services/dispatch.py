"""Dispatch: a ready order's delivery is offered to the nearest free rider, one rider at a time.

`delivery_open` (the handler of `order.ready`) opens the delivery, SEARCHING, and dispatches it in
the same transaction. Dispatching looks for the available verified riders with a fresh position
(delivery.positions) within the current radius of the restaurant, nearest first, skipping the
riders who already had an offer for it, and offers it to the first one it can lock who holds no
pending offer and no active delivery: a PENDING offer that expires after DISPATCH_OFFER_SECONDS.

An offer that expires (a task scheduled with the offer's countdown, and the sweep) or is declined
goes to the next rider at once. The radius grows from DISPATCH_RADIUS_START_KM by
DISPATCH_RADIUS_STEP_KM every DISPATCH_RETRY_SECONDS since the delivery opened, up to
DISPATCH_RADIUS_MAX_KM; the sweep (`dispatch_sweep`, every DISPATCH_RETRY_SECONDS) dispatches again
every delivery still searching without a pending offer, which also covers a worker killed between
committing an offer and scheduling its expiry. With nobody found DISPATCH_GIVE_UP_SECONDS after
opening, the delivery is UNASSIGNED (`delivery.unassigned`) and an admin assigns it by hand.

Concurrent dispatches never double-book: the delivery row is locked while it is dispatched, each
candidate rider row is locked with SKIP LOCKED (a rider another dispatch is offering to is
skipped) and checked in the database, and the partial unique constraints on offers are the last
word: an INSERT that would give a rider a second pending offer fails, and the next rider is tried.
"""

import logging
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from delivery import events, positions
from delivery.models import (
    ONE_OFFER_PER_RIDER_AND_DELIVERY,
    ONE_PENDING_OFFER_PER_RIDER,
    CancelledOrder,
    Delivery,
    DeliveryOffer,
    DeliveryStatus,
    DeliveryStatusChange,
    OfferStatus,
    Rider,
)
from delivery.services.transitions import (
    delivery_locked,
    delivery_move,
    offer_close,
    order_lock,
    pending_offer_locked,
)
from food_common.db import violates
from food_common.events.bus import publish

logger = logging.getLogger(__name__)

EXPIRE_OFFER_TASK = "delivery.expire_offer"
# The expiry task runs a little after the offer's end, so that it never finds it still running.
EXPIRY_GRACE_SECONDS = 0.5


def search_radius(searched_seconds: float) -> float:
    """Return the search radius in km after `searched_seconds` of searching."""
    steps = int(max(searched_seconds, 0) // settings.DISPATCH_RETRY_SECONDS)
    return min(
        settings.DISPATCH_RADIUS_START_KM + settings.DISPATCH_RADIUS_STEP_KM * steps,
        settings.DISPATCH_RADIUS_MAX_KM,
    )


@transaction.atomic
def delivery_open(
    *,
    order_id: int,
    customer_id: int,
    customer_email: str,
    restaurant_id: int,
    restaurant_owner_id: int,
    pickup_lat: float,
    pickup_lon: float,
    dropoff_lat: float,
    dropoff_lon: float,
    dropoff_address: str = "",
) -> Delivery | None:
    """Open the delivery of a ready order and offer it to the nearest rider; return it.

    Idempotent per order: a second call returns the delivery the first one opened. Return None
    for an order whose cancellation came first (CancelledOrder).
    """
    order_lock(order_id)
    if CancelledOrder.objects.filter(order_id=order_id).exists():
        logger.info("order %s was cancelled before it was ready: no delivery", order_id)
        return None
    delivery = Delivery.objects.filter(order_id=order_id).first()
    if delivery is not None:
        return delivery
    delivery = Delivery.objects.create(
        order_id=order_id,
        customer_id=customer_id,
        customer_email=customer_email,
        restaurant_id=restaurant_id,
        restaurant_owner_id=restaurant_owner_id,
        pickup_lat=pickup_lat,
        pickup_lon=pickup_lon,
        dropoff_lat=dropoff_lat,
        dropoff_lon=dropoff_lon,
        dropoff_address=dropoff_address[:500],
        status=DeliveryStatus.SEARCHING,
    )
    DeliveryStatusChange.objects.create(
        delivery=delivery, from_status="", to_status=DeliveryStatus.SEARCHING, reason="order ready"
    )
    logger.info("delivery %s opened for order %s", delivery.pk, order_id)
    _dispatch(delivery)  # not visible to anyone else before this transaction commits
    return delivery


@transaction.atomic
def delivery_dispatch(*, delivery_id: int) -> DeliveryOffer | None:
    """Offer a SEARCHING delivery to the nearest free rider; return the offer, or None.

    A delivery another transaction is working on right now is skipped (it is being dispatched,
    answered or cancelled): the sweep comes back to it if it is still searching.
    """
    delivery = Delivery.objects.select_for_update(skip_locked=True).filter(pk=delivery_id).first()
    if delivery is None:
        return None
    return _dispatch(delivery)


def _dispatch(delivery: Delivery) -> DeliveryOffer | None:
    """Dispatch a locked delivery: expire an overdue offer, give up, or offer it to a rider."""
    if delivery.status != DeliveryStatus.SEARCHING:
        return None
    now = timezone.now()
    pending = (
        delivery.offers.select_for_update(of=("self",))
        .select_related("rider")
        .filter(status=OfferStatus.PENDING)
    )
    for offer in pending:
        if offer.expires_at > now:
            return None  # someone is deciding
        offer_close(offer, OfferStatus.EXPIRED, at=now)
    searched = (now - delivery.created_at).total_seconds()
    radius = search_radius(searched)
    if delivery.radius_km != radius:
        delivery.radius_km = radius
        delivery.save(update_fields=["radius_km"])
    if searched >= settings.DISPATCH_GIVE_UP_SECONDS:
        _give_up(delivery, searched)
        return None
    offered = set(delivery.offers.values_list("rider__user_id", flat=True))
    try:
        candidates = positions.riders_near(
            lat=delivery.pickup_lat,
            lon=delivery.pickup_lon,
            radius_km=radius,
            count=settings.DISPATCH_CANDIDATES + len(offered),
        )
    except positions.REDIS_ERRORS as exc:
        # Positions are unknown for now: the delivery stays SEARCHING, the sweep tries again.
        logger.warning("delivery %s: no rider search, Redis unavailable: %s", delivery.pk, exc)
        return None
    for user_id, distance_km in candidates:
        if user_id in offered:
            continue
        offer = _offer_to(delivery, user_id=user_id, distance_km=distance_km, radius_km=radius)
        if offer is not None:
            return offer
    logger.info("delivery %s: no free rider within %s km", delivery.pk, radius)
    return None


def _offer_to(
    delivery: Delivery, *, user_id: int, distance_km: float, radius_km: float
) -> DeliveryOffer | None:
    """Offer the delivery to one candidate, or return None if they cannot take it now."""
    rider = (
        Rider.objects.select_for_update(skip_locked=True)
        .filter(user_id=user_id, verified=True, available=True)
        .first()
    )
    if rider is None or positions.rider_is_busy(rider.pk):
        return None
    now = timezone.now()
    try:
        with transaction.atomic():
            offer = DeliveryOffer.objects.create(
                delivery=delivery,
                rider=rider,
                offered_at=now,
                expires_at=now + timedelta(seconds=settings.DISPATCH_OFFER_SECONDS),
                radius_km=radius_km,
                distance_km=round(distance_km, 3),
            )
    except IntegrityError as exc:
        if violates(exc, ONE_PENDING_OFFER_PER_RIDER) or violates(
            exc, ONE_OFFER_PER_RIDER_AND_DELIVERY
        ):
            return None
        raise
    positions.rider_state_refresh(user_id=user_id)
    publish(events.DELIVERY_OFFERED, events.delivery_offered(offer))
    transaction.on_commit(lambda: _schedule_expiry(offer.pk), robust=True)
    logger.info(
        "delivery %s offered to rider %s (%.2f km, radius %s km)",
        delivery.pk,
        rider.pk,
        distance_km,
        radius_km,
    )
    return offer


def _schedule_expiry(offer_id: int) -> None:
    # Fire and forget: if the broker does not take it, the sweep expires the offer instead.
    current_app.send_task(
        EXPIRE_OFFER_TASK,
        args=[offer_id],
        queue="delivery",
        countdown=settings.DISPATCH_OFFER_SECONDS + EXPIRY_GRACE_SECONDS,
        retry=False,
    )


def _give_up(delivery: Delivery, searched: float) -> None:
    delivery_move(
        delivery,
        DeliveryStatus.UNASSIGNED,
        reason=f"nobody found within {delivery.radius_km} km in {int(searched)} s",
    )
    publish(events.DELIVERY_UNASSIGNED, events.delivery_unassigned(delivery))
    logger.warning(
        "delivery %s of order %s: nobody found, UNASSIGNED", delivery.pk, delivery.order_id
    )


@transaction.atomic
def offer_expire(*, offer_id: int) -> bool:
    """Expire an offer past its time and dispatch its delivery again; return True if it expired.

    An offer answered meanwhile, or not due yet, is left alone.
    """
    delivery_id = (
        DeliveryOffer.objects.filter(pk=offer_id).values_list("delivery_id", flat=True).first()
    )
    if delivery_id is None:
        return False
    delivery = delivery_locked(delivery_id)
    offer = (
        DeliveryOffer.objects.select_for_update(of=("self",))
        .select_related("rider")
        .get(pk=offer_id)
    )
    if offer.status != OfferStatus.PENDING or offer.expires_at > timezone.now():
        return False
    offer_close(offer, OfferStatus.EXPIRED)
    logger.info("offer %s of delivery %s expired", offer.pk, delivery.pk)
    _dispatch(delivery)
    return True


@transaction.atomic
def offer_decline(*, delivery_id: int, user_id: int) -> DeliveryOffer:
    """The offered rider declines; the delivery goes to the next rider at once.

    Raise DeliveryNotFound (404: no offer of this delivery to this rider) or OfferNotPending (409).
    """
    delivery = delivery_locked(delivery_id)
    offer = pending_offer_locked(delivery, user_id=user_id)
    offer_close(offer, OfferStatus.DECLINED)
    logger.info("offer %s of delivery %s declined", offer.pk, delivery.pk)
    _dispatch(delivery)
    return offer


def dispatch_sweep(*, limit: int = 500) -> int:
    """Expire overdue offers and dispatch the deliveries still searching; return the offers made.

    Each delivery in a transaction of its own; one that fails is logged and the rest go on.
    """
    now = timezone.now()
    overdue = DeliveryOffer.objects.filter(status=OfferStatus.PENDING, expires_at__lte=now)
    for offer_id in overdue.order_by("expires_at").values_list("pk", flat=True)[:limit]:
        try:
            offer_expire(offer_id=offer_id)
        except Exception:
            logger.exception("sweep: expiring offer %s failed", offer_id)
    searching = (
        Delivery.objects.filter(status=DeliveryStatus.SEARCHING)
        .exclude(offers__status=OfferStatus.PENDING)
        .order_by("created_at")
        .values_list("pk", flat=True)
    )
    offered = 0
    for delivery_id in searching[:limit]:
        try:
            offered += delivery_dispatch(delivery_id=delivery_id) is not None
        except Exception:
            logger.exception("sweep: dispatching delivery %s failed", delivery_id)
    return offered
