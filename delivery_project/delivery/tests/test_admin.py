"""The Django admin: riders (verify), deliveries with offers and timeline (assign), read-only."""

import pytest

from delivery import positions
from delivery.models import Delivery, DeliveryStatus, Rider
from delivery.tests.factories import PICKUP, RiderFactory, north_of

pytestmark = pytest.mark.django_db(transaction=True)

RIDERS = "/admin/delivery/delivery/rider/"
DELIVERIES = "/admin/delivery/delivery/delivery/"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_rider_list_filters_by_verified_and_available(admin_client):
    RiderFactory(name="Vera", verified=True, available=True)
    RiderFactory(name="Una", verified=False, available=False)

    unverified = admin_client.get(RIDERS, {"verified__exact": "0"})
    by_name = admin_client.get(RIDERS, {"q": "Vera"})

    assert unverified.status_code == 200
    assert [r.name for r in unverified.context["cl"].result_list] == ["Una"]
    assert [r.name for r in by_name.context["cl"].result_list] == ["Vera"]
    assert b"Last seen at" in unverified.content


def test_the_verify_action_verifies_through_the_service(admin_client):
    rider = RiderFactory(verified=False, available=False)
    positions.rider_state_load(user_id=rider.user_id)

    response = admin_client.post(
        RIDERS, {"action": "verify", "_selected_action": [rider.pk]}, follow=True
    )

    assert response.status_code == 200
    assert any("1 rider(s) verified" in m for m in messages_of(response))
    assert Rider.objects.get(pk=rider.pk).verified
    positions.location_record(user_id=rider.user_id, lat=52.5, lon=13.4)  # no longer refused


def test_a_riders_page_keeps_verification_and_availability_read_only(admin_client):
    rider = RiderFactory(verified=False, available=False, name="Old")
    url = f"{RIDERS}{rider.pk}/change/"

    page = admin_client.get(url)
    admin_client.post(
        url,
        {"name": "New", "phone": "+49 1234567", "vehicle_type": "car", "verified": "on"},
    )

    rider.refresh_from_db()
    assert page.status_code == 200
    assert (rider.name, rider.vehicle_type, rider.verified) == ("New", "car", False)
    assert admin_client.get(f"{RIDERS}add/").status_code == 403


def test_a_delivery_page_shows_its_offers_and_timeline_and_changes_nothing(
    admin_client, working_rider, open_delivery
):
    rider = working_rider(north_of(PICKUP, 1), name="Rita")
    delivery = open_delivery(order_id=42)
    url = f"{DELIVERIES}{delivery.pk}/change/"

    page = admin_client.get(url)
    admin_client.post(url, {"status": "DELIVERED"})

    assert page.status_code == 200
    content = page.content.decode()
    assert "Timeline" in content and "PENDING" in content and rider.name in content
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SEARCHING
    assert admin_client.get(f"{DELIVERIES}add/").status_code == 403
    assert admin_client.get(DELIVERIES, {"q": "42"}).context["cl"].result_count == 1


def test_the_assign_action_gives_a_delivery_to_the_rider_given(
    admin_client, working_rider, open_delivery
):
    delivery = open_delivery(order_id=1)  # nobody around yet
    rider = working_rider(north_of(PICKUP, 40))

    missing = admin_client.post(
        DELIVERIES, {"action": "assign", "_selected_action": [delivery.pk]}, follow=True
    )
    assigned = admin_client.post(
        DELIVERIES,
        {"action": "assign", "_selected_action": [delivery.pk], "rider_id": rider.pk},
        follow=True,
    )
    again = admin_client.post(
        DELIVERIES,
        {"action": "assign", "_selected_action": [delivery.pk], "rider_id": rider.pk},
        follow=True,
    )

    assert any("Give the rider's id" in m for m in messages_of(missing))
    assert any(f"assigned to rider {rider.pk}" in m for m in messages_of(assigned))
    assert any("does not allow this" in m for m in messages_of(again))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.ASSIGNED and delivery.rider == rider
    assert "assigned in the admin by" in delivery.status_changes.last().reason


def test_the_assign_action_takes_one_delivery_at_a_time(admin_client, working_rider, open_delivery):
    rider = working_rider(PICKUP)
    first, second = open_delivery(order_id=1), open_delivery(order_id=2)

    response = admin_client.post(
        DELIVERIES,
        {"action": "assign", "_selected_action": [first.pk, second.pk], "rider_id": rider.pk},
        follow=True,
    )

    assert any("exactly one" in m for m in messages_of(response))
    assert not Delivery.objects.filter(status=DeliveryStatus.ASSIGNED).exists()
