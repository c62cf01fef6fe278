"""Who sees a delivery (its customer, owner, rider, offered rider, admins; nobody else: 404), and
the rider's live position while they have it."""

import pytest
from django.test import override_settings

from delivery import positions, services
from delivery.tests.factories import (
    CUSTOMER,
    OWNER,
    PICKUP,
    RIDER,
    north_of,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def offered(working_rider, open_delivery):
    working_rider(north_of(PICKUP, 1), user_id=RIDER, name="Rita", vehicle_type="car")
    return open_delivery(order_id=1)


def test_the_customer_owner_offered_rider_and_admin_see_the_delivery(
    customer, owner, rider, admin, offered
):
    for client in (customer, owner, rider, admin):
        response = client.get(f"/deliveries/{offered.pk}")
        assert response.status_code == 200
        assert response.json()["status"] == "SEARCHING" and response.json()["rider"] is None
        listed = client.get("/deliveries", {"order_id": 1}).json()
        assert [d["id"] for d in listed["results"]] == [offered.pk]


def test_anyone_else_gets_404(other_customer, other_owner, other_rider, api_client_as, offered):
    nobody_rider = other_rider
    for client in (other_customer, other_owner, nobody_rider, api_client_as(999, "courier")):
        response = client.get(f"/deliveries/{offered.pk}")
        assert response.status_code == 404 and response.json()["code"] == "not_found"
        assert client.get("/deliveries", {"order_id": 1}).json()["count"] == 0


def test_a_rider_who_declined_sees_it_no_more(rider, offered):
    services.offer_decline(delivery_id=offered.pk, user_id=RIDER)
    assert rider.get(f"/deliveries/{offered.pk}").status_code == 404


def test_the_rider_and_their_live_position_are_shown_while_they_have_it(
    customer, owner, rider, offered, settings
):
    settings.RIDER_LOCATION_MIN_INTERVAL = 0
    before = customer.get(f"/deliveries/{offered.pk}").json()
    rider.post(f"/deliveries/{offered.pk}/accept")
    rider.put("/riders/me/location", {"lat": 52.53, "lon": 13.41}, format="json")

    seen_by_customer = customer.get(f"/deliveries/{offered.pk}").json()
    seen_by_owner = owner.get("/deliveries", {"order_id": 1}).json()["results"][0]
    rider.post(f"/deliveries/{offered.pk}/pickup")
    rider.post(f"/deliveries/{offered.pk}/deliver")
    after = customer.get(f"/deliveries/{offered.pk}").json()

    assert before["rider_position"] is None
    assert seen_by_customer["rider"] == {"name": "Rita", "vehicle_type": "car"}
    position = seen_by_customer["rider_position"]
    assert (position["lat"], position["lon"]) == (52.53, 13.41) and position["at"]
    assert seen_by_owner["rider_position"] == position
    assert after["rider"] == {"name": "Rita", "vehicle_type": "car"}
    assert after["rider_position"] is None  # delivered: no more tracking
    assert "offers" not in seen_by_customer and "customer_email" not in seen_by_customer


def test_with_redis_away_the_position_is_the_last_flushed_one(customer, rider, offered):
    rider.post(f"/deliveries/{offered.pk}/accept")
    positions.positions_flush()
    broken = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }

    with override_settings(CACHES=broken):
        response = customer.get(f"/deliveries/{offered.pk}")

    assert response.status_code == 200
    position = response.json()["rider_position"]
    assert (position["lat"], position["lon"]) == pytest.approx(north_of(PICKUP, 1))


def test_admins_also_see_the_offers_and_the_timeline(admin, customer, offered):
    body = admin.get(f"/deliveries/{offered.pk}").json()

    assert body["customer_id"] == CUSTOMER and body["restaurant_owner_id"] == OWNER
    assert body["radius_km"] == 3.0
    (offer,) = body["offers"]
    assert offer["status"] == "PENDING" and offer["distance_km"] == pytest.approx(1.0, abs=0.01)
    assert [(t["from_status"], t["to_status"]) for t in body["timeline"]] == [("", "SEARCHING")]


def test_each_caller_lists_only_their_deliveries(customer, other_customer, admin, open_delivery):
    mine = open_delivery(order_id=1)
    theirs = open_delivery(order_id=2, customer_id=202)

    assert [d["id"] for d in customer.get("/deliveries").json()["results"]] == [mine.pk]
    assert [d["id"] for d in other_customer.get("/deliveries").json()["results"]] == [theirs.pk]
    assert admin.get("/deliveries").json()["count"] == 2
    assert customer.get("/deliveries", {"order_id": "x"}).status_code == 400
    assert customer.get("/deliveries", {"status": "SEARCHING"}).status_code == 400


def test_an_unknown_delivery_is_404(admin, rider):
    assert admin.get("/deliveries/999999").status_code == 404
    assert rider.get("/deliveries/999999").status_code == 404


def test_an_anonymous_caller_is_401(api_client, offered):
    assert api_client.get(f"/deliveries/{offered.pk}").status_code == 401
    assert api_client.get("/deliveries").status_code == 401
