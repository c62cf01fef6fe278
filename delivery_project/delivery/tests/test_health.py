"""Health, readiness, metrics and the OpenAPI schema of the delivery service."""

import pytest

from delivery import services
from delivery.tests.factories import PICKUP, RIDER, north_of


def test_health_needs_nothing(client):
    reply = client.get("/health")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "service": "delivery"}


@pytest.mark.django_db
def test_ready_checks_database_redis_and_broker(client):
    reply = client.get("/ready")
    assert reply.status_code == 200
    assert reply.json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}


@pytest.mark.django_db(transaction=True)
def test_metrics_show_deliveries_by_status_riders_available_and_time_to_assign(
    client, working_rider, open_delivery
):
    working_rider(north_of(PICKUP, 1), user_id=RIDER)
    working_rider(north_of(PICKUP, 2))
    assigned = open_delivery(order_id=1)
    services.offer_accept(delivery_id=assigned.pk, user_id=RIDER)
    open_delivery(order_id=2)

    text = client.get("/metrics").content.decode()

    assert 'food_deliveries{status="ASSIGNED"} 1.0' in text
    assert 'food_deliveries{status="SEARCHING"} 1.0' in text
    # One rider has a delivery, the other an offer: nobody is free.
    assert "food_delivery_riders_available 0.0" in text
    assert "food_delivery_time_to_assign_seconds_count 1.0" in text
    assert "food_delivery_time_to_assign_seconds_sum " in text


@pytest.mark.django_db
def test_the_schema_documents_every_operation(client):
    schema = client.get("/schema", HTTP_ACCEPT="application/json").json()

    paths = schema["paths"]
    assert set(paths) == {
        "/riders",
        "/riders/me",
        "/riders/me/location",
        "/riders/me/offers",
        "/riders/{rider_id}/verify",
        "/deliveries",
        "/deliveries/{delivery_id}",
        "/deliveries/{delivery_id}/accept",
        "/deliveries/{delivery_id}/decline",
        "/deliveries/{delivery_id}/pickup",
        "/deliveries/{delivery_id}/deliver",
        "/deliveries/{delivery_id}/assign",
    }
    location = paths["/riders/me/location"]["put"]["responses"]
    assert set(location) >= {"204", "400", "401", "403", "404", "429"}
    assert "Retry-After" in location["429"]["headers"]
