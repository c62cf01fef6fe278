"""pytest plugin for the services' own tests: sign tokens with a test key and call the API as a role.

Enable with `-p food_common.pytest_plugin` (each project's pytest.ini does). Importing it sets
DEBUG=1 unless DEBUG is set: the settings' local defaults (SECRET_KEY, the local signing key) are
refused with DEBUG off, which is the default. `-p` plugins are imported before pytest-django loads
the settings, so a plain `pytest` in a project folder works.
"""

import itertools
import os
import uuid

import pytest

os.environ.setdefault("DEBUG", "1")


@pytest.fixture(autouse=True)
def _test_signing_key(settings):
    """Verify tokens against the test key instead of fetching the auth service's JWKS."""
    from food_common.tokens import get_verifier

    settings.JWT_KEY_RESOLVER = "food_common.testing.test_public_key_for_kid"
    get_verifier.cache_clear()
    yield
    get_verifier.cache_clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Superusers of admin tests get a fast hasher (the default one is slow on purpose)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api_client():
    """Return a DRF APIClient; `api_client_as(...)` gives one that sends a token."""
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def api_client_as():
    """Return a factory: `api_client_as(user_id, role)` → an APIClient authenticated as that caller."""
    from rest_framework.test import APIClient

    from food_common.testing import make_access_token

    def build(user_id: int = 1, role: str = "customer", **claims):
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {make_access_token(user_id, role=role, **claims)}"
        )
        client.user_id = user_id
        return client

    return build


@pytest.fixture
def no_relay(monkeypatch):
    """Keep committed events in the outbox instead of sending them to the shared broker; return
    the list of the events the commits would have relayed."""
    sent = []

    def relay(event):
        sent.append(event)
        return True

    monkeypatch.setattr("food_common.events.bus.relay", relay)
    return sent


# The callers of every project's tests, with the ids of food_common.testing: `customer`,
# `other_customer`, `owner`, `other_owner`, `admin`. A project overrides one by defining a fixture
# of the same name in its conftest.
def _caller(name: str, user_id_name: str, role_name: str):
    def client_as(api_client_as):
        from food_common import authentication, testing

        return api_client_as(getattr(testing, user_id_name), getattr(authentication, role_name))

    return pytest.fixture(name=name)(client_as)


customer = _caller("customer", "CUSTOMER", "ROLE_CUSTOMER")
other_customer = _caller("other_customer", "OTHER_CUSTOMER", "ROLE_CUSTOMER")
owner = _caller("owner", "OWNER", "ROLE_RESTAURANT_OWNER")
other_owner = _caller("other_owner", "OTHER_OWNER", "ROLE_RESTAURANT_OWNER")
admin = _caller("admin", "ADMIN", "ROLE_ADMIN")


_cache_run = f"test-{uuid.uuid4().hex[:8]}"
_cache_tests = itertools.count()


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """Give each test its own key prefix in the shared Redis, and delete its keys afterwards."""
    from django.core.cache import caches

    prefix = f"{settings.SERVICE_NAME}-{_cache_run}-{next(_cache_tests)}"
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    test_cache = caches["default"]
    yield
    try:
        test_cache.delete_pattern("*")  # only this test's keys: the pattern carries the prefix
    except Exception:  # noqa: BLE001, S110 - a test that broke Redis on purpose
        pass
