"""Riders and deliveries for the tests, and positions around one restaurant."""

import factory
from factory.django import DjangoModelFactory

# User ids (the `sub` of the test tokens) of the callers the tests play.
from delivery.models import Delivery, DeliveryStatus, Rider, VehicleType
from food_common.testing import ADMIN, CUSTOMER, OTHER_CUSTOMER, OTHER_OWNER, OWNER  # noqa: F401

RIDER, OTHER_RIDER = 501, 502
RESTAURANT = 7
# The restaurant (Berlin, Alexanderplatz) and the customer's door.
PICKUP = (52.5219, 13.4132)
DROPOFF = (52.5300, 13.4000)
KM_PER_DEGREE_LAT = 111.2


def north_of(point: tuple[float, float], km: float) -> tuple[float, float]:
    """Return the point `km` kilometres north of `point`."""
    return point[0] + km / KM_PER_DEGREE_LAT, point[1]


class RiderFactory(DjangoModelFactory):
    class Meta:
        model = Rider

    user_id = factory.Sequence(lambda n: 10_000 + n)
    name = factory.Sequence(lambda n: f"Rider {n}")
    phone = "+49 30 1234567"
    vehicle_type = VehicleType.BICYCLE
    verified = True
    available = True


class DeliveryFactory(DjangoModelFactory):
    class Meta:
        model = Delivery

    order_id = factory.Sequence(lambda n: 1000 + n)
    customer_id = CUSTOMER
    customer_email = "ann@example.com"
    restaurant_id = RESTAURANT
    restaurant_owner_id = OWNER
    pickup_lat, pickup_lon = PICKUP
    dropoff_lat, dropoff_lon = DROPOFF
    dropoff_address = "10 Home St"
    status = DeliveryStatus.SEARCHING


def order_ready_data(order_id: int, **changes) -> dict:
    """Return the data of `order.ready` as orders publishes it."""
    return {
        "order_id": order_id,
        "customer_id": CUSTOMER,
        "customer_email": "ann@example.com",
        "restaurant_id": RESTAURANT,
        "restaurant_owner_id": OWNER,
        "pickup": {"lat": PICKUP[0], "lon": PICKUP[1]},
        "dropoff": {"lat": DROPOFF[0], "lon": DROPOFF[1], "address": "10 Home St"},
        **changes,
    }


def order_cancelled_data(order_id: int, **changes) -> dict:
    """Return the data of `order.cancelled` as orders publishes it."""
    return {
        "order_id": order_id,
        "customer_id": CUSTOMER,
        "customer_email": "ann@example.com",
        "restaurant_id": RESTAURANT,
        "restaurant_owner_id": OWNER,
        "was_paid": True,
        "total": "24.00",
        "currency": "EUR",
        "reason": "changed my mind",
        **changes,
    }
