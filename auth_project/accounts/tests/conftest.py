import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework.test import APIClient

from accounts import keys
from accounts.tests.factories import PASSWORD, UserFactory
from food_common.tokens import get_verifier


@pytest.fixture(scope="session")
def jwt_key_file(tmp_path_factory):
    """Return the file of this test session's signing key (tests never touch var/keys)."""
    path = tmp_path_factory.mktemp("keys") / "auth_jwt_private.pem"
    path.write_bytes(
        keys.private_key_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    )
    return path


@pytest.fixture(autouse=True)
def _test_signing_key(settings, jwt_key_file, tmp_path):
    """Override food_common's fixture: auth signs and verifies with its own keys (accounts.keys)."""
    settings.JWT_KEY_RESOLVER = "accounts.keys.public_key_for_kid"
    settings.JWT_PRIVATE_KEY = ""
    settings.JWT_PRIVATE_KEY_FILE = str(jwt_key_file)
    settings.JWT_LOCAL_PRIVATE_KEY_FILE = str(tmp_path / "keys" / "local.pem")
    settings.JWT_EXTRA_PUBLIC_KEYS_FILE = ""
    get_verifier.cache_clear()
    yield
    get_verifier.cache_clear()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def tokens(user):
    """Return the {access, refresh} pair of a login as `user`."""
    response = APIClient().post(
        "/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.json()
    return response.json()
