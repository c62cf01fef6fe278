import pytest
from celery.app.base import Celery

from delivery import positions, services
from delivery.tests.factories import (
    CUSTOMER,
    DROPOFF,
    OTHER_RIDER,
    OWNER,
    PICKUP,
    RESTAURANT,
    RIDER,
    RiderFactory,
)
from food_common.authentication import ROLE_RIDER


@pytest.fixture(autouse=True)
def sent_tasks(no_relay, monkeypatch) -> list:
    """Nothing reaches the shared broker: events stay in the outbox, and the Celery messages the
    code sends (offer expiries) are recorded here as (task name, args, options)."""
    sent = []

    def record(app, name, args=None, kwargs=None, **options):
        sent.append((name, args, options))

    monkeypatch.setattr(Celery, "send_task", record)
    return sent


@pytest.fixture(autouse=True)
def _static_files_looked_up_lazily(settings):
    """Every test client loads the middleware: WhiteNoise would rescan STATIC_ROOT each time."""
    settings.WHITENOISE_AUTOREFRESH = True


@pytest.fixture
def rider(api_client_as):
    """A client of the rider RIDER (who has no profile yet)."""
    return api_client_as(RIDER, ROLE_RIDER)


@pytest.fixture
def other_rider(api_client_as):
    return api_client_as(OTHER_RIDER, ROLE_RIDER)


@pytest.fixture
def working_rider():
    """Return `working_rider(point, user_id=..., **fields)`: a verified, available rider whose
    position at `point` is in Redis, as after their profile, verification and first update."""

    def make(point, *, user_id=None, **fields):
        rider = RiderFactory(**({"user_id": user_id} if user_id else {}), **fields)
        positions.rider_state_load(user_id=rider.user_id)
        positions.location_record(user_id=rider.user_id, lat=point[0], lon=point[1])
        return rider

    return make


@pytest.fixture
def open_delivery():
    """Return `open_delivery(order_id, customer_id=..., restaurant_owner_id=...)`: the delivery
    of a ready order, dispatched."""

    def make(order_id: int = 1, *, customer_id=CUSTOMER, restaurant_owner_id=OWNER):
        return services.delivery_open(
            order_id=order_id,
            customer_id=customer_id,
            customer_email="ann@example.com",
            restaurant_id=RESTAURANT,
            restaurant_owner_id=restaurant_owner_id,
            pickup_lat=PICKUP[0],
            pickup_lon=PICKUP[1],
            dropoff_lat=DROPOFF[0],
            dropoff_lon=DROPOFF[1],
            dropoff_address="10 Home St",
        )

    return make
