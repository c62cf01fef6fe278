"""What every write to a delivery shares: its lock, the timeline row of a move, closing an offer.

Lock order, everywhere: the delivery row, then its offer rows, then the rider row. Dispatch takes
rider rows with SKIP LOCKED (a rider someone else is offering to is skipped, never waited for),
and nothing holds a rider row while it waits for a delivery or an offer, so two writers never
wait for each other in a circle.
"""

from datetime import datetime

from django.db import connection
from django.utils import timezone

from delivery import positions
from delivery.errors import DeliveryNotFound, OfferNotPending
from delivery.models import Delivery, DeliveryOffer, DeliveryStatusChange, OfferStatus


def delivery_locked(delivery_id: int, **filters) -> Delivery:
    """Return the delivery locked for this transaction (waiting for others); raise DeliveryNotFound."""
    delivery = (
        Delivery.objects.select_for_update(of=("self",))
        .select_related("rider")
        .filter(pk=delivery_id, **filters)
        .first()
    )
    if delivery is None:
        raise DeliveryNotFound()
    return delivery


def order_lock(order_id: int) -> None:
    """Serialise the writers of one order's delivery (open and cancel) until the transaction ends.

    Needed where no row exists yet to lock: `order.ready` and `order.cancelled` of one order
    handled at the same moment.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [order_id])


def delivery_move(
    delivery: Delivery,
    to_status: str,
    *,
    by_user_id: int | None = None,
    reason: str = "",
    **fields,
) -> None:
    """Move a locked delivery to `to_status` (setting `fields` too) and add the timeline row."""
    from_status = delivery.status
    delivery.status = to_status
    for name, value in fields.items():
        setattr(delivery, name, value)
    delivery.save(update_fields=["status", *fields])
    DeliveryStatusChange.objects.create(
        delivery=delivery,
        from_status=from_status,
        to_status=to_status,
        rider_id=delivery.rider_id,
        by_user_id=by_user_id,
        reason=reason[:500],
    )


def offer_close(offer: DeliveryOffer, status: str, *, at: datetime | None = None) -> None:
    """End a PENDING offer (accepted, declined, expired or withdrawn); its rider is free again."""
    offer.status = status
    offer.answered_at = at or timezone.now()
    offer.save(update_fields=["status", "answered_at"])
    positions.rider_state_refresh(user_id=offer.rider.user_id)


def offers_withdraw(delivery: Delivery) -> list[DeliveryOffer]:
    """Withdraw the delivery's pending offer, if any (its delivery is locked); return them."""
    pending = list(
        delivery.offers.select_for_update(of=("self",))
        .select_related("rider")
        .filter(status=OfferStatus.PENDING)
    )
    for offer in pending:
        offer_close(offer, OfferStatus.WITHDRAWN)
    return pending


def pending_offer_locked(delivery: Delivery, *, user_id: int) -> DeliveryOffer:
    """Return the locked delivery's offer to the rider `user_id`, locked, if it is PENDING.

    Raise DeliveryNotFound (404) when the rider had no offer of it, OfferNotPending (409) when
    their offer was answered, expired or withdrawn.
    """
    offer = (
        delivery.offers.select_for_update(of=("self",))
        .select_related("rider")
        .filter(rider__user_id=user_id)
        .first()
    )
    if offer is None:
        raise DeliveryNotFound()
    if offer.status != OfferStatus.PENDING:
        raise OfferNotPending(offer_status=offer.status)
    return offer
