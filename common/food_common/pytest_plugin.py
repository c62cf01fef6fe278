"""pytest plugin for the services' own tests: sign tokens with a test key and call the API as a role.

Enable with `-p food_common.pytest_plugin` (each project's pytest.ini does).
"""

import pytest


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
