"""The last mile: the rider accepts (or an admin assigns), picks up and delivers; or the order is
cancelled. Each step is a move of the delivery, a timeline row and an event, in one transaction.

    SEARCHING ──accept / assign──▶ ASSIGNED ──pickup──▶ PICKED_UP ──deliver──▶ DELIVERED
    UNASSIGNED ──assign──▶ ASSIGNED
    SEARCHING, UNASSIGNED, ASSIGNED, PICKED_UP ──order.cancelled──▶ CANCELLED

The orders service refuses a cancel after pickup except an admin's, so a cancel after pickup is
applied too. The partial unique constraint "one active delivery per rider" is the last word on
assignment: a rider who somehow holds another one makes the UPDATE fail (409 rider_busy).
"""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from delivery import events, positions
from delivery.errors import (
    AssigneeNotVerified,
    DeliveryWrongStatus,
    OfferExpired,
    RiderBusy,
    RiderNotFound,
)
from delivery.models import (
    ONE_ACTIVE_DELIVERY_PER_RIDER,
    CancelledOrder,
    Delivery,
    DeliveryStatus,
    OfferStatus,
    Rider,
)
from delivery.services.transitions import (
    delivery_locked,
    delivery_move,
    offer_close,
    offers_withdraw,
    order_lock,
    pending_offer_locked,
)
from food_common.db import violates
from food_common.events.bus import publish

logger = logging.getLogger(__name__)

ASSIGNABLE = (DeliveryStatus.SEARCHING, DeliveryStatus.UNASSIGNED)
CANCELLABLE = (
    DeliveryStatus.SEARCHING,
    DeliveryStatus.UNASSIGNED,
    DeliveryStatus.ASSIGNED,
    DeliveryStatus.PICKED_UP,
)


@transaction.atomic
def offer_accept(*, delivery_id: int, user_id: int) -> Delivery:
    """The offered rider accepts: the delivery is theirs (ASSIGNED, `delivery.assigned`).

    Raise DeliveryNotFound (404: no offer of it to this rider), OfferNotPending or OfferExpired
    (409), RiderBusy (409).
    """
    delivery = delivery_locked(delivery_id)
    offer = pending_offer_locked(delivery, user_id=user_id)
    now = timezone.now()
    if offer.expires_at <= now:
        raise OfferExpired(expires_at=offer.expires_at.isoformat())
    if delivery.status != DeliveryStatus.SEARCHING:  # offers are withdrawn on every other move
        raise DeliveryWrongStatus(delivery_status=delivery.status)
    rider = Rider.objects.select_for_update().get(pk=offer.rider_id)
    offer_close(offer, OfferStatus.ACCEPTED, at=now)
    _assign(delivery, rider, reason=f"offer {offer.pk} accepted")
    return delivery


@transaction.atomic
def delivery_assign(
    *, delivery_id: int, rider_id: int, by_user_id: int | None = None, reason: str = ""
) -> Delivery:
    """An admin gives a searching or unassigned delivery to a rider (`delivery.assigned`).

    The rider must be verified and free: no active delivery, no pending offer of another
    delivery (their pending offer of this one is withdrawn, like anyone's). Raise
    DeliveryNotFound / RiderNotFound (404), DeliveryWrongStatus / RiderBusy /
    AssigneeNotVerified (409).
    """
    delivery = delivery_locked(delivery_id)
    if delivery.status not in ASSIGNABLE:
        raise DeliveryWrongStatus(delivery_status=delivery.status)
    withdrawn = offers_withdraw(delivery)
    rider = Rider.objects.select_for_update().filter(pk=rider_id).first()
    if rider is None:
        raise RiderNotFound()
    if not rider.verified:
        raise AssigneeNotVerified()
    if positions.rider_is_busy(rider.pk):
        raise RiderBusy(
            "This rider holds an active delivery or an offer of another one; wait, or choose "
            "another rider."
        )
    # The rider whose offer was open, if not the one chosen, hears that it is gone.
    offered = next((offer.rider for offer in withdrawn if offer.rider_id != rider.pk), None)
    _assign(
        delivery,
        rider,
        by_user_id=by_user_id,
        reason=reason or "assigned by an admin",
        offer_withdrawn_from=offered,
    )
    return delivery


def _assign(
    delivery: Delivery,
    rider: Rider,
    *,
    by_user_id: int | None = None,
    reason: str,
    offer_withdrawn_from: Rider | None = None,
) -> None:
    try:
        with transaction.atomic():
            delivery_move(
                delivery,
                DeliveryStatus.ASSIGNED,
                by_user_id=by_user_id,
                reason=reason,
                rider=rider,
                assigned_at=timezone.now(),
            )
    except IntegrityError as exc:
        if violates(exc, ONE_ACTIVE_DELIVERY_PER_RIDER):
            raise RiderBusy() from None
        raise
    publish(
        events.DELIVERY_ASSIGNED,
        events.delivery_assigned(delivery, offer_withdrawn_from=offer_withdrawn_from),
    )
    positions.rider_state_refresh(user_id=rider.user_id)
    logger.info(
        "delivery %s of order %s assigned to rider %s", delivery.pk, delivery.order_id, rider.pk
    )


@transaction.atomic
def delivery_pickup(*, delivery_id: int, user_id: int) -> Delivery:
    """The assigned rider has the food (PICKED_UP, `delivery.picked_up`).

    Raise DeliveryNotFound (404: not this rider's delivery) or DeliveryWrongStatus (409).
    """
    delivery = delivery_locked(delivery_id, rider__user_id=user_id)
    if delivery.status != DeliveryStatus.ASSIGNED:
        raise DeliveryWrongStatus(delivery_status=delivery.status)
    delivery_move(
        delivery, DeliveryStatus.PICKED_UP, by_user_id=user_id, picked_up_at=timezone.now()
    )
    publish(events.DELIVERY_PICKED_UP, events.delivery_picked_up(delivery))
    return delivery


@transaction.atomic
def delivery_deliver(*, delivery_id: int, user_id: int) -> Delivery:
    """The assigned rider handed the food over (DELIVERED, `delivery.delivered`); they are free.

    Raise DeliveryNotFound (404: not this rider's delivery) or DeliveryWrongStatus (409).
    """
    delivery = delivery_locked(delivery_id, rider__user_id=user_id)
    if delivery.status != DeliveryStatus.PICKED_UP:
        raise DeliveryWrongStatus(delivery_status=delivery.status)
    delivery_move(
        delivery, DeliveryStatus.DELIVERED, by_user_id=user_id, delivered_at=timezone.now()
    )
    publish(events.DELIVERY_DELIVERED, events.delivery_delivered(delivery))
    positions.rider_state_refresh(user_id=user_id)
    return delivery


@transaction.atomic
def delivery_cancel_for_order(*, order_id: int, reason: str = "") -> Delivery | None:
    """Cancel the delivery of a cancelled order (`delivery.cancelled`); its rider is free.

    Before pickup that is the rule; after pickup only an admin's cancel reaches here (the
    orders service refuses the others), and it cancels the delivery too. A delivered or
    cancelled delivery is left alone. An order with no delivery yet is remembered, so that a
    late `order.ready` opens none.
    """
    order_lock(order_id)
    delivery_id = Delivery.objects.filter(order_id=order_id).values_list("pk", flat=True).first()
    if delivery_id is None:
        CancelledOrder.objects.get_or_create(order_id=order_id)
        return None
    delivery = delivery_locked(delivery_id)
    if delivery.status not in CANCELLABLE:
        logger.info("order %s cancelled: its delivery is %s already", order_id, delivery.status)
        return delivery
    withdrawn = offers_withdraw(delivery)
    delivery_move(
        delivery,
        DeliveryStatus.CANCELLED,
        reason=reason or "order cancelled",
        cancelled_at=timezone.now(),
    )
    publish(
        events.DELIVERY_CANCELLED,
        events.delivery_cancelled(
            delivery, reason=reason, offered_to=withdrawn[0].rider if withdrawn else None
        ),
    )
    if delivery.rider_id:
        positions.rider_state_refresh(user_id=delivery.rider.user_id)
    logger.info("delivery %s of cancelled order %s cancelled", delivery.pk, order_id)
    return delivery
