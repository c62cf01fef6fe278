"""The admin's login locks out after AXES_FAILURE_LIMIT failures (django-axes, settings_base); the
token API never goes through it."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client

from catalog.models import Restaurant

pytestmark = pytest.mark.django_db

LOGIN = "/admin/catalog/login/"
PASSWORD = "the-Right-passw0rd"
CLIENT = "203.0.113.7"  # the address the gateway appends to X-Forwarded-For


@pytest.fixture
def staff(django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    django_user_model.objects.create_superuser("ops", "ops@example.com", PASSWORD)


def log_in(username: str, password: str, address: str = CLIENT, **headers):
    """POST the admin login form as one client behind the gateway; return (response, client)."""
    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=address, **headers)
    response = client.post(LOGIN, {"username": username, "password": password, "next": "/"})
    return response, client


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/"


def fail_five_times(username: str = "root", address: str = CLIENT) -> list[int]:
    return [log_in(username, "wrong-password", address)[0].status_code for _ in range(5)]


def test_five_wrong_passwords_then_the_right_one_is_refused(staff, settings):
    assert settings.AXES_FAILURE_LIMIT == 5

    # Given: four failures still leave the form (200 with its error), the fifth locks
    statuses = fail_five_times()

    # When
    response, client = log_in("root", PASSWORD)

    # Then: 429 JSON in the one error shape with the cool-off as Retry-After, and no session
    assert statuses == [200] * 4 + [429]
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "locked_out" and body["request_id"] == response["X-Request-ID"]
    assert int(response["Retry-After"]) == 15 * 60
    assert client.get("/admin/catalog/").status_code == 302  # to the login page
    assert AccessAttempt.objects.get(username="root").ip_address == CLIENT


def test_a_browser_is_told_in_text(staff):
    fail_five_times()

    response, _ = log_in("root", PASSWORD, HTTP_ACCEPT="text/html,application/xhtml+xml")

    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/plain")
    assert "too many login attempts" in response.content.decode()


def test_the_lock_holds_the_address_and_the_username(staff):
    fail_five_times(username="root", address=CLIENT)

    # the locked address cannot log in as another admin either
    assert log_in("ops", PASSWORD, address=CLIENT)[0].status_code == 429
    # the locked username cannot log in from another address
    assert log_in("root", PASSWORD, address="198.51.100.1")[0].status_code == 429
    # another admin from another address can
    assert logged_in(log_in("ops", PASSWORD, address="198.51.100.1")[0])


def test_the_lock_ends_after_the_cool_off(staff):
    fail_five_times()
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )

    assert logged_in(log_in("root", PASSWORD)[0])


def test_a_success_clears_earlier_failures(staff):
    for _ in range(4):
        log_in("root", "wrong-password")
    assert logged_in(log_in("root", PASSWORD)[0])

    # four more failures do not lock: the count started again
    assert [log_in("root", "wrong-password")[0].status_code for _ in range(4)] == [200] * 4


def test_the_token_api_works_from_a_locked_out_address(staff, owner):
    fail_five_times()

    response = owner.post(
        "/restaurants",
        {
            "name": "Still Open",
            "cuisine": "indian",
            "address": "1 High St",
            "lat": 52.5,
            "lon": 13.4,
        },
        format="json",
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR=CLIENT,
    )

    assert response.status_code == 201, response.json()
    assert Restaurant.objects.filter(name="Still Open").exists()
