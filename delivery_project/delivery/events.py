"""The events the delivery service publishes: one payload builder per event, next to the model.

Every payload names the delivery, its order, and the order's customer and restaurant (owner
included), so a consumer can tell each of them without asking anyone. Shapes and versions are
in the contract (contracts/asyncapi.yaml).
"""

from django.utils import timezone

from delivery.models import Delivery, DeliveryOffer, Rider

DELIVERY_OFFERED = "delivery.offered"
DELIVERY_ASSIGNED = "delivery.assigned"
DELIVERY_PICKED_UP = "delivery.picked_up"
DELIVERY_DELIVERED = "delivery.delivered"
DELIVERY_UNASSIGNED = "delivery.unassigned"
DELIVERY_CANCELLED = "delivery.cancelled"


def _subject(delivery: Delivery) -> dict:
    return {
        "delivery_id": delivery.pk,
        "order_id": delivery.order_id,
        "customer_id": delivery.customer_id,
        "customer_email": delivery.customer_email,
        "restaurant_id": delivery.restaurant_id,
        "restaurant_owner_id": delivery.restaurant_owner_id,
    }


def _rider(rider: Rider) -> dict:
    return {
        "id": rider.pk,
        "user_id": rider.user_id,
        "name": rider.name,
        "vehicle_type": rider.vehicle_type,
    }


def delivery_offered(offer: DeliveryOffer) -> dict:
    """Return the data of `delivery.offered`: a rider is asked to take the delivery until it
    expires."""
    delivery = offer.delivery
    return {
        **_subject(delivery),
        "offer_id": offer.pk,
        "rider": _rider(offer.rider),
        "pickup": {"lat": delivery.pickup_lat, "lon": delivery.pickup_lon},
        "dropoff": {
            "lat": delivery.dropoff_lat,
            "lon": delivery.dropoff_lon,
            "address": delivery.dropoff_address,
        },
        "distance_km": offer.distance_km,
        "offered_at": offer.offered_at,
        "expires_at": offer.expires_at,
    }


def delivery_assigned(delivery: Delivery, *, offer_withdrawn_from: Rider | None = None) -> dict:
    """Return the data of `delivery.assigned`: a rider took the delivery (or an admin gave it).

    `offer_withdrawn_from` is the other rider whose offer of it was still open when an admin
    gave it by hand: notifications tells them it is gone.
    """
    return {
        **_subject(delivery),
        "rider": _rider(delivery.rider),
        "assigned_at": delivery.assigned_at,
        "offer_withdrawn_from": _rider(offer_withdrawn_from) if offer_withdrawn_from else None,
    }


def delivery_picked_up(delivery: Delivery) -> dict:
    """Return the data of `delivery.picked_up`: the rider has the food."""
    return {
        **_subject(delivery),
        "rider": _rider(delivery.rider),
        "picked_up_at": delivery.picked_up_at,
    }


def delivery_delivered(delivery: Delivery) -> dict:
    """Return the data of `delivery.delivered`: the food reached the customer."""
    return {
        **_subject(delivery),
        "rider": _rider(delivery.rider),
        "delivered_at": delivery.delivered_at,
    }


def delivery_unassigned(delivery: Delivery) -> dict:
    """Return the data of `delivery.unassigned`: nobody was found in time; an admin assigns it."""
    return {
        **_subject(delivery),
        "searched_seconds": int((timezone.now() - delivery.created_at).total_seconds()),
        "radius_km": delivery.radius_km,
    }


def delivery_cancelled(delivery: Delivery, *, reason: str, offered_to: Rider | None) -> dict:
    """Return the data of `delivery.cancelled`: its order was cancelled (the rider is free, and
    `offered_to`, the rider whose offer of it was still open, is told it is gone)."""
    return {
        **_subject(delivery),
        "rider": _rider(delivery.rider) if delivery.rider_id else None,
        "offered_to": _rider(offered_to) if offered_to else None,
        "was_picked_up": delivery.picked_up_at is not None,
        "reason": reason,
        "cancelled_at": delivery.cancelled_at,
    }
