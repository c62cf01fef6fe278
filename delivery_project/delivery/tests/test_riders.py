"""Rider profiles: created by the rider, verified by an admin, on and off shift; their offers."""

import pytest

from delivery import positions
from delivery.models import Rider
from delivery.tests.factories import OTHER_RIDER, PICKUP, RIDER, RiderFactory

pytestmark = pytest.mark.django_db(transaction=True)

PROFILE = {"name": "Rita", "phone": "+49 30 555 0101", "vehicle_type": "scooter"}


def test_a_rider_creates_their_profile_unverified_and_off_shift(rider):
    created = rider.post("/riders/me", PROFILE, format="json")
    again = rider.post("/riders/me", PROFILE, format="json")
    read = rider.get("/riders/me")

    assert created.status_code == 201
    body = created.json()
    assert {k: body[k] for k in ("user_id", "name", "vehicle_type", "verified", "available")} == {
        "user_id": RIDER,
        "name": "Rita",
        "vehicle_type": "scooter",
        "verified": False,
        "available": False,
    }
    assert body["position"] is None
    assert again.status_code == 409 and again.json()["code"] == "rider_profile_exists"
    assert read.status_code == 200 and read.json()["id"] == body["id"]


@pytest.mark.parametrize(
    "body",
    [
        {**PROFILE, "vehicle_type": "rocket"},
        {**PROFILE, "phone": "call me"},
        {"name": "Rita"},
        {**PROFILE, "verified": True},
    ],
)
def test_a_profile_with_bad_fields_is_refused(rider, body):
    response = rider.post("/riders/me", body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert not Rider.objects.exists()


def test_only_riders_have_a_rider_profile(customer, owner, admin):
    for client in (customer, owner, admin):
        assert client.post("/riders/me", PROFILE, format="json").status_code == 403
        assert client.get("/riders/me").status_code == 403


def test_without_a_profile_me_is_404(rider):
    response = rider.get("/riders/me")
    assert response.status_code == 404 and response.json()["code"] == "rider_profile_missing"
    assert rider.patch("/riders/me", {"available": True}, format="json").status_code == 404


def test_only_a_verified_rider_may_go_on_shift(rider, admin):
    rider_id = rider.post("/riders/me", PROFILE, format="json").json()["id"]

    refused = rider.patch("/riders/me", {"available": True}, format="json")
    verified = admin.post(f"/riders/{rider_id}/verify")
    accepted = rider.patch("/riders/me", {"available": True, "phone": "+49 1"}, format="json")

    assert refused.status_code == 403 and refused.json()["code"] == "rider_not_verified"
    assert verified.status_code == 200 and verified.json()["verified"] is True
    assert accepted.status_code == 400  # the phone is too short; nothing changed
    accepted = rider.patch("/riders/me", {"available": True}, format="json")
    assert accepted.status_code == 200 and accepted.json()["available"] is True
    assert rider.patch("/riders/me", {"available": "yes"}, format="json").status_code == 400


def test_verifying_is_for_admins_and_idempotent(rider, customer, admin):
    rider_id = rider.post("/riders/me", PROFILE, format="json").json()["id"]

    assert rider.post(f"/riders/{rider_id}/verify").status_code == 403
    assert customer.post(f"/riders/{rider_id}/verify").status_code == 403
    assert admin.post(f"/riders/{rider_id}/verify").status_code == 200
    assert admin.post(f"/riders/{rider_id}/verify").status_code == 200
    assert admin.post("/riders/999999/verify").status_code == 404


def test_admins_list_riders_with_their_last_position(admin, rider, working_rider):
    working_rider(PICKUP, user_id=RIDER)
    RiderFactory(user_id=OTHER_RIDER, verified=False, available=False)

    everyone = admin.get("/riders").json()
    unverified = admin.get("/riders", {"verified": "false"}).json()

    assert everyone["count"] == 2
    assert [r["user_id"] for r in unverified["results"]] == [OTHER_RIDER]
    assert set(everyone["results"][0]) >= {"last_lat", "last_lon", "last_seen_at", "verified"}
    assert rider.get("/riders").status_code == 403
    assert admin.get("/riders", {"colour": "red"}).status_code == 400


def test_a_rider_sees_their_live_position(rider, working_rider):
    working_rider(PICKUP, user_id=RIDER)

    position = rider.get("/riders/me").json()["position"]

    assert (position["lat"], position["lon"]) == PICKUP


def test_a_rider_sees_the_last_flushed_position_when_redis_has_none(rider, working_rider):
    working_rider(PICKUP, user_id=RIDER)
    positions.positions_flush()
    from django_redis import get_redis_connection

    get_redis_connection().delete(positions._pos_key(RIDER))

    position = rider.get("/riders/me").json()["position"]

    assert (position["lat"], position["lon"]) == PICKUP


def test_a_rider_sees_their_pending_offer_with_its_expiry(
    rider, other_rider, working_rider, open_delivery
):
    working_rider(PICKUP, user_id=RIDER)
    delivery = open_delivery(order_id=1)

    offers = rider.get("/riders/me/offers").json()
    nobody = other_rider.get("/riders/me/offers").json()

    assert offers["count"] == 1
    (offer,) = offers["results"]
    assert offer["delivery_id"] == delivery.pk
    assert offer["pickup"] == {"lat": PICKUP[0], "lon": PICKUP[1]}
    assert offer["dropoff"]["address"] == "10 Home St"
    assert offer["distance_km"] == pytest.approx(0, abs=0.01)
    assert offer["status"] == "PENDING" and offer["expires_at"] > offer["offered_at"]
    assert nobody["count"] == 0
