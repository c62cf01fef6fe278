"""Health, readiness and the error shape of food_common, as every service serves them."""

import pytest


def test_health_needs_nothing(client):
    reply = client.get("/health")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "service": "payments"}


@pytest.mark.django_db
def test_ready_checks_database_redis_and_broker(client):
    reply = client.get("/ready")
    assert reply.status_code == 200
    assert reply.json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_ready_names_what_failed_with_503(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    reply = client.get("/ready")
    assert reply.status_code == 503
    body = reply.json()
    assert body["failed"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error:")


def test_unknown_path_is_json_404_with_request_id(client):
    reply = client.get("/nowhere", HTTP_X_REQUEST_ID="abc-123")
    assert reply.status_code == 404
    assert reply.json() == {"detail": "Not found.", "code": "not_found", "request_id": "abc-123"}
    assert reply["X-Request-ID"] == "abc-123"


def test_invalid_request_id_is_replaced(client):
    reply = client.get("/health", HTTP_X_REQUEST_ID="bad id with spaces")
    assert reply["X-Request-ID"] != "bad id with spaces" and len(reply["X-Request-ID"]) == 32
