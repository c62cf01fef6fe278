"""Dispatch: nearest free rider first, expiry and decline go to the next, the radius grows, and
with nobody found in time the delivery is UNASSIGNED."""

import time
from datetime import timedelta

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from delivery import positions, services
from delivery.models import (
    CancelledOrder,
    Delivery,
    DeliveryOffer,
    DeliveryStatus,
    OfferStatus,
    Rider,
)
from delivery.services.dispatch import EXPIRE_OFFER_TASK
from delivery.tasks import dispatch_sweep, expire_offer
from delivery.tests.factories import (
    CUSTOMER,
    DROPOFF,
    OWNER,
    PICKUP,
    RIDER,
    RiderFactory,
    north_of,
    order_cancelled_data,
    order_ready_data,
)
from food_common.events.bus import dispatch
from food_common.testing import envelope, published

pytestmark = pytest.mark.django_db(transaction=True)


def searched_for(delivery: Delivery, seconds: float) -> None:
    """Make the delivery look opened `seconds` ago."""
    Delivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - timedelta(seconds=seconds)
    )


def run_out(offer: DeliveryOffer) -> None:
    DeliveryOffer.objects.filter(pk=offer.pk).update(expires_at=timezone.now())


def as_json(moment) -> str:
    return DjangoJSONEncoder().default(moment)


def pending_offer(delivery: Delivery) -> DeliveryOffer | None:
    return delivery.offers.filter(status=OfferStatus.PENDING).select_related("rider").first()


@pytest.mark.consumes("order.ready")
def test_order_ready_opens_the_delivery_and_offers_it_to_the_nearest_free_rider(
    working_rider, sent_tasks, settings
):
    # Given riders around the restaurant, the nearest ones unable to take it: off shift, silent
    # for five minutes, and one whose row says off shift while Redis still lists them
    working_rider(north_of(PICKUP, 2.0))
    near = working_rider(north_of(PICKUP, 1.0))
    working_rider(PICKUP, available=False)
    stale = RiderFactory()
    positions.rider_state_load(user_id=stale.user_id)
    positions.location_record(
        user_id=stale.user_id, lat=PICKUP[0], lon=PICKUP[1], now=time.time() - 300
    )
    listed = working_rider(north_of(PICKUP, 0.2))
    Rider.objects.filter(pk=listed.pk).update(available=False)  # no write-through
    event = envelope("order.ready", order_ready_data(41))

    # When orders says the order is ready (delivered twice)
    assert dispatch(event, "delivery") == []
    assert dispatch(event, "delivery") == []

    # Then one delivery, offered to the nearest rider who can take it, with its expiry scheduled
    delivery = Delivery.objects.get(order_id=41)
    offer = delivery.offers.get()
    assert delivery.status == DeliveryStatus.SEARCHING and delivery.radius_km == 3.0
    assert offer.rider == near and offer.status == OfferStatus.PENDING
    assert offer.distance_km == pytest.approx(1.0, abs=0.01)
    assert offer.expires_at - offer.offered_at == timedelta(seconds=settings.DISPATCH_OFFER_SECONDS)
    assert sent_tasks == [
        (EXPIRE_OFFER_TASK, [offer.pk], {"queue": "delivery", "countdown": 30.5, "retry": False})
    ]
    assert (delivery.customer_id, delivery.restaurant_owner_id) == (CUSTOMER, OWNER)
    assert (delivery.dropoff_lat, delivery.dropoff_lon) == DROPOFF
    assert list(delivery.status_changes.values_list("from_status", "to_status")) == [
        ("", DeliveryStatus.SEARCHING)
    ]


@pytest.mark.produces("delivery.offered")
def test_each_offer_tells_its_rider_what_and_until_when(working_rider, open_delivery):
    first = working_rider(north_of(PICKUP, 1.0))
    second = working_rider(north_of(PICKUP, 2.0))
    delivery = open_delivery(order_id=7)
    offer = pending_offer(delivery)

    services.offer_decline(delivery_id=delivery.pk, user_id=first.user_id)

    first_offer, second_offer = published("delivery.offered")
    assert first_offer["data"] == {
        "delivery_id": delivery.pk,
        "offer_id": offer.pk,
        "order_id": 7,
        "customer_id": CUSTOMER,
        "customer_email": "ann@example.com",
        "restaurant_id": delivery.restaurant_id,
        "restaurant_owner_id": OWNER,
        "rider": {
            "id": first.pk,
            "user_id": first.user_id,
            "name": first.name,
            "vehicle_type": first.vehicle_type,
        },
        "pickup": {"lat": PICKUP[0], "lon": PICKUP[1]},
        "dropoff": {"lat": DROPOFF[0], "lon": DROPOFF[1], "address": "10 Home St"},
        "distance_km": offer.distance_km,
        "offered_at": as_json(offer.offered_at),
        "expires_at": as_json(offer.expires_at),
    }
    assert second_offer["data"]["rider"]["user_id"] == second.user_id


@pytest.mark.consumes("order.ready")
def test_order_ready_again_for_the_same_order_opens_nothing_more(working_rider):
    working_rider(PICKUP)

    dispatch(envelope("order.ready", order_ready_data(41)), "delivery")
    dispatch(envelope("order.ready", order_ready_data(41)), "delivery")  # published twice

    assert Delivery.objects.count() == 1 and DeliveryOffer.objects.count() == 1


@pytest.mark.consumes("order.ready")
def test_order_ready_with_impossible_coordinates_fails_and_opens_nothing(working_rider):
    working_rider(PICKUP)
    data = order_ready_data(41, pickup={"lat": 91.0, "lon": 13.4})

    failures = dispatch(envelope("order.ready", data, validate=False), "delivery")

    assert len(failures) == 1 and "IntegrityError" in failures[0][1]  # retried, dead-lettered
    assert not Delivery.objects.exists()


def test_the_radius_grows_step_by_step_up_to_its_maximum(working_rider, open_delivery):
    rider = working_rider(north_of(PICKUP, 6.0))
    delivery = open_delivery(order_id=1)
    first = delivery.radius_km

    searched_for(delivery, 10)
    second = services.delivery_dispatch(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    at_five_km = delivery.radius_km
    searched_for(delivery, 21)
    third = services.delivery_dispatch(delivery_id=delivery.pk)

    assert (first, second, at_five_km) == (3.0, None, 5.0)
    assert third.rider == rider and third.radius_km == 7.0
    assert third.distance_km == pytest.approx(6.0, abs=0.05)
    assert [services.search_radius(s) for s in (0, 9.9, 10, 30, 59, 60, 1000)] == [
        3.0,
        3.0,
        5.0,
        9.0,
        13.0,
        15.0,
        15.0,
    ]


def test_an_expired_offer_goes_to_the_next_rider(working_rider, open_delivery, sent_tasks):
    first = working_rider(north_of(PICKUP, 1.0))
    second = working_rider(north_of(PICKUP, 2.0))
    delivery = open_delivery(order_id=1)
    offer = pending_offer(delivery)

    early = expire_offer(offer.pk)  # the task ran before its time: nothing happens
    run_out(offer)
    expired = expire_offer(offer.pk)
    again = expire_offer(offer.pk)  # and the sweep's copy of it, or a repeated message

    offer.refresh_from_db()
    assert (early, expired, again) == (False, True, False)
    assert offer.status == OfferStatus.EXPIRED and offer.answered_at is not None
    assert offer.rider == first and pending_offer(delivery).rider == second
    assert len(sent_tasks) == 2  # one expiry per offer
    # The first rider is free again, in line for other deliveries.
    assert first.user_id in [
        u for u, _ in positions.riders_near(lat=PICKUP[0], lon=PICKUP[1], radius_km=5, count=10)
    ]


def test_a_declined_offer_goes_to_the_next_rider_and_never_back(
    api_client_as, working_rider, open_delivery
):
    first = working_rider(north_of(PICKUP, 1.0), user_id=RIDER)
    second = working_rider(north_of(PICKUP, 2.0))
    delivery = open_delivery(order_id=1)

    declined = api_client_as(RIDER, "rider").post(f"/deliveries/{delivery.pk}/decline")
    handed_on = pending_offer(delivery)
    services.offer_decline(delivery_id=delivery.pk, user_id=second.user_id)
    services.delivery_dispatch(delivery_id=delivery.pk)  # the sweep: still nobody new

    assert declined.status_code == 200 and declined.json()["status"] == "DECLINED"
    assert handed_on.rider == second
    assert pending_offer(delivery) is None
    assert list(delivery.offers.values_list("rider_id", "status")) == [
        (first.pk, OfferStatus.DECLINED),
        (second.pk, OfferStatus.DECLINED),
    ]
    again = api_client_as(RIDER, "rider").post(f"/deliveries/{delivery.pk}/decline")
    assert again.status_code == 409 and again.json()["offer_status"] == "DECLINED"


@pytest.mark.produces("delivery.unassigned")
def test_with_nobody_in_time_the_delivery_is_unassigned_and_everyone_told(open_delivery):
    delivery = open_delivery(order_id=1)
    searched_for(delivery, 299)
    dispatch_sweep()
    still_searching = Delivery.objects.get(pk=delivery.pk).status

    searched_for(delivery, 300)
    dispatch_sweep()
    dispatch_sweep()  # once only

    delivery.refresh_from_db()
    assert still_searching == DeliveryStatus.SEARCHING
    assert delivery.status == DeliveryStatus.UNASSIGNED and delivery.radius_km == 15.0
    (event,) = published("delivery.unassigned")
    assert event["data"] == {
        "delivery_id": delivery.pk,
        "order_id": 1,
        "customer_id": delivery.customer_id,
        "customer_email": "ann@example.com",
        "restaurant_id": delivery.restaurant_id,
        "restaurant_owner_id": delivery.restaurant_owner_id,
        "searched_seconds": 300,
        "radius_km": 15.0,
    }
    assert delivery.status_changes.last().to_status == DeliveryStatus.UNASSIGNED


def test_a_pending_offer_is_waited_for_even_past_the_give_up_time(working_rider, open_delivery):
    working_rider(PICKUP)
    delivery = open_delivery(order_id=1)
    searched_for(delivery, 400)

    dispatch_sweep()

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SEARCHING and pending_offer(delivery) is not None


def test_the_sweep_expires_offers_whose_task_was_lost_and_finds_riders_who_came_later(
    working_rider, open_delivery
):
    # Given a delivery nobody was near, and one whose offer's expiry task never ran
    lonely = open_delivery(order_id=1)
    first = working_rider(north_of(PICKUP, 1.0))
    busy = open_delivery(order_id=2)
    run_out(pending_offer(busy))
    second = working_rider(north_of(PICKUP, 2.0))

    # When the sweep runs
    offered = dispatch_sweep()

    # Then the lost expiry is made up for, and each delivery has an offer
    assert offered == 1
    assert pending_offer(busy).rider in (first, second)
    assert pending_offer(lonely).rider in (first, second)
    assert pending_offer(busy).rider != pending_offer(lonely).rider


def test_a_rider_who_holds_a_delivery_is_not_offered_another(working_rider, open_delivery):
    rider = working_rider(PICKUP)
    first = open_delivery(order_id=1)
    services.offer_accept(delivery_id=first.pk, user_id=rider.user_id)

    second = open_delivery(order_id=2)

    assert pending_offer(second) is None
    assert not positions.riders_near(lat=PICKUP[0], lon=PICKUP[1], radius_km=5, count=10)


def test_without_redis_the_delivery_is_opened_and_dispatched_later(
    working_rider, open_delivery, settings
):
    rider = working_rider(PICKUP)
    redis = settings.CACHES
    settings.CACHES = {
        "default": {
            **redis["default"],
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    delivery = open_delivery(order_id=1)
    settings.CACHES = redis

    offered = dispatch_sweep()

    assert delivery.status == DeliveryStatus.SEARCHING and offered == 1
    assert pending_offer(delivery).rider == rider


@pytest.mark.consumes("order.cancelled")
@pytest.mark.consumes("order.ready")
def test_an_order_ready_that_arrives_after_its_cancellation_opens_nothing(working_rider):
    working_rider(PICKUP)

    dispatch(envelope("order.cancelled", order_cancelled_data(41)), "delivery")
    dispatch(envelope("order.ready", order_ready_data(41)), "delivery")

    assert CancelledOrder.objects.filter(order_id=41).exists()
    assert not Delivery.objects.exists() and not DeliveryOffer.objects.exists()
