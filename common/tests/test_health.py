"""GET /health and GET /ready: liveness needs nothing, readiness names what does not answer."""

import pytest

from food_common.health import run_checks
from food_common.settings_base import READY_CHECKS_WITH_BROKER
from tests.conftest import closed_port


def test_health_needs_nothing(client):
    reply = client.get("/health")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "service": "common"}


@pytest.mark.django_db
def test_ready_checks_database_and_redis(client):
    reply = client.get("/ready")
    assert reply.status_code == 200
    assert reply.json() == {
        "status": "ok",
        "service": "common",
        "checks": {"database": "ok", "redis": "ok"},
    }


@pytest.mark.django_db
def test_ready_is_503_naming_redis_when_the_cache_does_not_answer(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    reply = client.get("/ready")
    assert reply.status_code == 503
    body = reply.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error: ")
    assert "\n" not in body["checks"]["redis"]


@pytest.mark.django_db
def test_ready_with_broker_checks_the_broker(client, settings):
    settings.READY_CHECKS = READY_CHECKS_WITH_BROKER
    reply = client.get("/ready")
    assert reply.status_code == 200
    assert reply.json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_ready_is_503_naming_the_broker_when_it_does_not_answer(client, settings):
    settings.READY_CHECKS = READY_CHECKS_WITH_BROKER
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    reply = client.get("/ready")
    assert reply.status_code == 503
    body = reply.json()
    assert body["failed"] == ["broker"]
    assert body["checks"]["broker"].startswith("error: ConnectionError")
    assert body["checks"]["database"] == body["checks"]["redis"] == "ok"


def passing_check():
    pass


def failing_check():
    raise OSError("first line of the failure\nsecond line\nthird line")


def silent_failing_check():
    raise RuntimeError()


def test_run_checks_reports_each_outcome_in_one_line():
    results = run_checks(
        {
            "fine": "tests.test_health.passing_check",
            "broken": "tests.test_health.failing_check",
            "silent": "tests.test_health.silent_failing_check",
        }
    )
    assert results == {
        "fine": "ok",
        "broken": "error: OSError: first line of the failure",
        "silent": "error: RuntimeError: ",
    }
