"""Concurrent uses of one refresh token against real transactions (a connection per thread)."""

import threading

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts import services
from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from food_common.testing import run_together

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 12


@pytest.fixture
def refresh_token():
    user = UserFactory()
    response = APIClient().post(
        "/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.json()
    return response.json()["refresh"]


def refresh(token: str) -> tuple[int, dict]:
    response = APIClient().post("/auth/refresh", {"refresh": token}, format="json")
    return response.status_code, response.json()


def assert_one_new_pair(results, token):
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [401] * (THREADS - 1), statuses
    assert {body["code"] for status, body in results if status == 401} == {"token_not_valid"}
    (pair,) = [body for status, body in results if status == 200]
    # the old token is revoked once, and only the one new refresh token is outstanding besides it
    assert BlacklistedToken.objects.count() == 1
    assert OutstandingToken.objects.count() == 2
    assert refresh(token)[0] == 401
    assert refresh(pair["refresh"])[0] == 200


def test_parallel_refreshes_that_all_passed_the_blacklist_check_give_one_new_pair(
    refresh_token, monkeypatch
):
    # Given: every request has verified the token (not yet blacklisted) before any rotates it,
    # the window in which simplejwt's own get_or_create let several through.
    everyone_verified = threading.Barrier(THREADS)
    rotate = services.refresh_token_rotate

    def rotate_together(**kwargs):
        everyone_verified.wait(timeout=10)
        return rotate(**kwargs)

    monkeypatch.setattr(services, "refresh_token_rotate", rotate_together)

    # When
    results = run_together([lambda: refresh(refresh_token)] * THREADS)
    monkeypatch.undo()

    # Then
    assert_one_new_pair(results, refresh_token)


def test_parallel_refreshes_with_one_token_give_one_new_pair(refresh_token):
    results = run_together([lambda: refresh(refresh_token)] * THREADS)

    assert_one_new_pair(results, refresh_token)


def test_a_burst_of_parallel_registrations_gets_exactly_the_global_rate(settings):
    # Given: DRF's throttle reads, decides and writes its counter in separate calls, so without
    # the counter's lock a parallel burst read one history and every request passed
    settings.REGISTER_RATE_GLOBAL = "3/min"

    def register(n: int) -> int:
        body = {"email": f"burst{n}@example.com", "password": PASSWORD}
        return (
            APIClient()
            .post("/auth/register", body, format="json", REMOTE_ADDR=f"10.1.0.{n}")
            .status_code
        )

    # When
    statuses = run_together([lambda n=n: register(n) for n in range(THREADS)])

    # Then
    assert sorted(statuses) == [201] * 3 + [429] * (THREADS - 3)
    assert User.objects.count() == 3
