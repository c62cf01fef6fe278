"""The last mile: accept, pick up, deliver (each an event), assignment by an admin, cancellation."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from delivery import positions, services
from delivery.models import Delivery, DeliveryOffer, DeliveryStatus, OfferStatus
from delivery.tests.factories import (
    CUSTOMER,
    OTHER_RIDER,
    OWNER,
    PICKUP,
    RESTAURANT,
    RIDER,
    RiderFactory,
    north_of,
    order_cancelled_data,
)
from food_common.events.bus import dispatch
from food_common.testing import envelope, published

pytestmark = pytest.mark.django_db(transaction=True)


def subject(delivery: Delivery) -> dict:
    return {
        "delivery_id": delivery.pk,
        "order_id": delivery.order_id,
        "customer_id": CUSTOMER,
        "customer_email": "ann@example.com",
        "restaurant_id": RESTAURANT,
        "restaurant_owner_id": OWNER,
    }


def free_riders(radius_km: float = 5) -> list[int]:
    return [
        u
        for u, _ in positions.riders_near(
            lat=PICKUP[0], lon=PICKUP[1], radius_km=radius_km, count=9
        )
    ]


@pytest.fixture
def offered(working_rider, open_delivery):
    """A delivery offered to RIDER, 1 km from the restaurant (a scooter)."""
    working_rider(north_of(PICKUP, 1), user_id=RIDER, name="Rita", vehicle_type="scooter")
    return open_delivery(order_id=1)


@pytest.mark.produces("delivery.assigned")
@pytest.mark.produces("delivery.picked_up")
@pytest.mark.produces("delivery.delivered")
def test_the_rider_accepts_picks_up_and_delivers_and_each_step_is_an_event(rider, offered):
    accepted = rider.post(f"/deliveries/{offered.pk}/accept")
    busy = free_riders()
    picked_up = rider.post(f"/deliveries/{offered.pk}/pickup")
    delivered = rider.post(f"/deliveries/{offered.pk}/deliver")

    assert accepted.status_code == picked_up.status_code == delivered.status_code == 200
    assert accepted.json()["status"] == "ASSIGNED"
    assert accepted.json()["rider"] == {"name": "Rita", "vehicle_type": "scooter"}
    assert picked_up.json()["status"] == "PICKED_UP"
    assert delivered.json()["status"] == "DELIVERED" and delivered.json()["rider_position"] is None
    delivery = Delivery.objects.get(pk=offered.pk)
    rider_data = {
        "id": delivery.rider_id,
        "user_id": RIDER,
        "name": "Rita",
        "vehicle_type": "scooter",
    }
    (assigned,) = published("delivery.assigned")
    assigned_at = parse_datetime(assigned["data"].pop("assigned_at"))
    assert assigned["data"] == {
        **subject(delivery),
        "rider": rider_data,
        "offer_withdrawn_from": None,  # the rider took their own offer
    }
    assert abs(assigned_at - delivery.assigned_at) < timedelta(milliseconds=1)
    (picked,) = published("delivery.picked_up")
    assert picked["data"]["rider"] == rider_data and picked["data"]["picked_up_at"]
    (done,) = published("delivery.delivered")
    assert {k: done["data"][k] for k in subject(delivery)} == subject(delivery)
    assert list(delivery.status_changes.values_list("to_status", flat=True)) == [
        "SEARCHING",
        "ASSIGNED",
        "PICKED_UP",
        "DELIVERED",
    ]
    assert delivery.offers.get().status == OfferStatus.ACCEPTED
    # Busy from the acceptance to the handover, then in line for the next offer.
    assert busy == [] and free_riders() == [RIDER]


def test_steps_out_of_order_are_409_and_change_nothing(rider, offered):
    too_early = rider.post(f"/deliveries/{offered.pk}/pickup")
    rider.post(f"/deliveries/{offered.pk}/accept")
    skipped = rider.post(f"/deliveries/{offered.pk}/deliver")
    accepted_twice = rider.post(f"/deliveries/{offered.pk}/accept")
    rider.post(f"/deliveries/{offered.pk}/pickup")
    picked_twice = rider.post(f"/deliveries/{offered.pk}/pickup")

    assert too_early.status_code == 404  # not theirs before they accept
    assert skipped.status_code == 409 and skipped.json()["code"] == "delivery_wrong_status"
    assert skipped.json()["delivery_status"] == "ASSIGNED"
    assert accepted_twice.status_code == 409 and accepted_twice.json()["offer_status"] == "ACCEPTED"
    assert picked_twice.status_code == 409
    assert Delivery.objects.get(pk=offered.pk).status == DeliveryStatus.PICKED_UP
    assert len(published("delivery.picked_up")) == 1


def test_an_offer_past_its_time_cannot_be_accepted(rider, offered):
    DeliveryOffer.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = rider.post(f"/deliveries/{offered.pk}/accept")

    assert response.status_code == 409 and response.json()["code"] == "offer_expired"
    assert Delivery.objects.get(pk=offered.pk).status == DeliveryStatus.SEARCHING


def test_only_the_offered_and_then_the_assigned_rider_may_act(
    rider, other_rider, customer, offered
):
    RiderFactory(user_id=OTHER_RIDER)

    for path in ("accept", "decline", "pickup", "deliver"):
        response = other_rider.post(f"/deliveries/{offered.pk}/{path}")
        assert response.status_code == 404, path
        assert customer.post(f"/deliveries/{offered.pk}/{path}").status_code == 403
    assert other_rider.post("/deliveries/999999/accept").status_code == 404
    rider.post(f"/deliveries/{offered.pk}/accept")
    assert other_rider.post(f"/deliveries/{offered.pk}/pickup").status_code == 404


@pytest.mark.produces("delivery.assigned")
def test_an_admin_assigns_an_unassigned_delivery_by_hand(admin, working_rider, open_delivery):
    delivery = open_delivery(order_id=1)  # nobody around
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.UNASSIGNED)
    chosen = working_rider(north_of(PICKUP, 30), user_id=RIDER)

    response = admin.post(
        f"/deliveries/{delivery.pk}/assign", {"rider_id": chosen.pk}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ASSIGNED" and body["rider"]["name"] == chosen.name
    assert (
        body["timeline"][-1]["by_user_id"] == 301 and body["timeline"][-1]["rider_id"] == chosen.pk
    )
    (event,) = published("delivery.assigned")
    assert event["data"]["rider"]["id"] == chosen.pk
    assert event["data"]["offer_withdrawn_from"] is None  # nobody was being asked
    assert free_riders(radius_km=50) == []


@pytest.mark.produces("delivery.assigned")
def test_assigning_by_hand_withdraws_the_pending_offer(admin, working_rider, offered):
    other = working_rider(north_of(PICKUP, 2))

    response = admin.post(f"/deliveries/{offered.pk}/assign", {"rider_id": other.pk}, format="json")

    assert response.status_code == 200
    offer = offered.offers.get()
    assert offer.status == OfferStatus.WITHDRAWN and offer.rider.user_id == RIDER
    assert free_riders() == [RIDER]  # the withdrawn rider is free again
    # The event names them, so notifications can tell them the offer is gone.
    (event,) = published("delivery.assigned")
    assert event["data"]["rider"]["id"] == other.pk
    assert event["data"]["offer_withdrawn_from"]["user_id"] == RIDER


@pytest.mark.produces("delivery.assigned")
def test_assigning_by_hand_the_rider_who_was_offered_it_withdraws_nothing_from_them(admin, offered):
    offered_rider = offered.offers.get().rider

    response = admin.post(
        f"/deliveries/{offered.pk}/assign", {"rider_id": offered_rider.pk}, format="json"
    )

    assert response.status_code == 200
    (event,) = published("delivery.assigned")
    assert event["data"]["rider"]["id"] == offered_rider.pk
    assert event["data"]["offer_withdrawn_from"] is None


def test_assigning_refuses_busy_unverified_and_wrong_status(admin, working_rider, open_delivery):
    holder = working_rider(PICKUP)
    taken = open_delivery(order_id=1)
    services.offer_accept(delivery_id=taken.pk, user_id=holder.user_id)
    waiting = open_delivery(order_id=2)
    unverified = RiderFactory(verified=False)

    def assign(delivery, rider_id):
        return admin.post(
            f"/deliveries/{delivery.pk}/assign", {"rider_id": rider_id}, format="json"
        )

    busy = assign(waiting, holder.pk)
    not_verified = assign(waiting, unverified.pk)
    wrong_status = assign(taken, unverified.pk)
    nobody = assign(waiting, 999999)
    bad = admin.post(f"/deliveries/{waiting.pk}/assign", {"rider_id": 0}, format="json")

    assert (busy.status_code, busy.json()["code"]) == (409, "rider_busy")
    assert (not_verified.status_code, not_verified.json()["code"]) == (409, "rider_not_verified")
    assert (wrong_status.status_code, wrong_status.json()["delivery_status"]) == (409, "ASSIGNED")
    assert nobody.status_code == 404 and bad.status_code == 400
    assert Delivery.objects.get(pk=waiting.pk).status == DeliveryStatus.SEARCHING


def test_only_admins_assign(rider, owner, offered):
    for client in (rider, owner):
        response = client.post(f"/deliveries/{offered.pk}/assign", {"rider_id": 1}, format="json")
        assert response.status_code == 403


@pytest.mark.consumes("order.cancelled")
@pytest.mark.produces("delivery.cancelled")
def test_a_cancel_before_pickup_cancels_the_delivery_and_frees_the_rider(rider, offered):
    rider.post(f"/deliveries/{offered.pk}/accept")
    busy = free_riders()
    event = envelope("order.cancelled", order_cancelled_data(1, reason="changed my mind"))

    assert dispatch(event, "delivery") == []
    assert dispatch(event, "delivery") == []  # delivered twice: handled once

    delivery = Delivery.objects.get(pk=offered.pk)
    assert delivery.status == DeliveryStatus.CANCELLED and delivery.cancelled_at is not None
    (cancelled,) = published("delivery.cancelled")
    assert cancelled["data"]["was_picked_up"] is False
    assert cancelled["data"]["reason"] == "changed my mind"
    assert cancelled["data"]["rider"]["user_id"] == RIDER
    assert cancelled["data"]["offered_to"] is None  # the offer was answered: nobody else to tell
    assert busy == [] and free_riders() == [RIDER]
    assert rider.post(f"/deliveries/{offered.pk}/pickup").status_code == 409


@pytest.mark.consumes("order.cancelled")
@pytest.mark.produces("delivery.cancelled")
def test_a_cancel_while_searching_withdraws_the_offer(offered):
    dispatch(envelope("order.cancelled", order_cancelled_data(1)), "delivery")

    assert offered.offers.get().status == OfferStatus.WITHDRAWN
    (cancelled,) = published("delivery.cancelled")
    assert cancelled["data"]["rider"] is None
    # The rider whose offer was open is named, so notifications can tell them it is gone.
    assert cancelled["data"]["offered_to"]["user_id"] == RIDER
    assert free_riders() == [RIDER]


@pytest.mark.consumes("order.cancelled")
@pytest.mark.produces("delivery.cancelled")
def test_a_cancel_after_pickup_is_an_admins_and_cancels_the_delivery_too(rider, offered):
    # Orders refuses a customer's or owner's cancel after pickup (409); an admin's gets here.
    rider.post(f"/deliveries/{offered.pk}/accept")
    rider.post(f"/deliveries/{offered.pk}/pickup")

    dispatch(envelope("order.cancelled", order_cancelled_data(1, reason="admin")), "delivery")

    delivery = Delivery.objects.get(pk=offered.pk)
    assert delivery.status == DeliveryStatus.CANCELLED
    (cancelled,) = published("delivery.cancelled")
    assert cancelled["data"]["was_picked_up"] is True
    assert free_riders() == [RIDER]


@pytest.mark.consumes("order.cancelled")
def test_a_delivered_order_cancelled_later_keeps_its_delivery(rider, offered):
    for step in ("accept", "pickup", "deliver"):
        rider.post(f"/deliveries/{offered.pk}/{step}")

    dispatch(envelope("order.cancelled", order_cancelled_data(1)), "delivery")

    assert Delivery.objects.get(pk=offered.pk).status == DeliveryStatus.DELIVERED
    assert published("delivery.cancelled") == []
