"""Test helpers: a throw-away RSA key pair that signs access tokens the way auth does, and a way
to run calls in parallel threads against the real database.

Projects use it in unit tests through the pytest plugin `food_common.pytest_plugin`, which points
`JWT_KEY_RESOLVER` at this key so a service's own tests need no running auth service.
"""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TEST_KID = "test-key-1"
# The users of every project's tests (the pytest plugin's `customer`, `owner`... fixtures).
OWNER, OTHER_OWNER, CUSTOMER, OTHER_CUSTOMER, ADMIN = 101, 102, 201, 202, 301


@lru_cache(maxsize=1)
def test_private_key():
    """Return the RSA private key of this test process (made once; 2048 bits)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_public_key_for_kid(kid: str):
    """Key resolver for tests: the public half of `test_private_key()` for TEST_KID."""
    from food_common.tokens import TokenInvalid

    if kid != TEST_KID:
        raise TokenInvalid("Token is signed with an unknown key.")
    return test_private_key().public_key()


# Helpers, not tests: pytest must not collect them when a test module imports them by name.
test_private_key.__test__ = test_public_key_for_kid.__test__ = False


def make_access_token(
    user_id: int = 1,
    *,
    role: str = "customer",
    email: str | None = None,
    lifetime: int = 300,
    private_key=None,
    kid: str = TEST_KID,
    algorithm: str = "RS256",
    issuer: str = "food-auth",
    audience: str = "food-api",
    **claims,
) -> str:
    """Return a signed access token with the claims auth puts in one."""
    now = int(time.time())
    payload = {
        "token_type": "access",
        "sub": str(user_id),
        "email": email or f"user{user_id}@example.com",
        "role": role,
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
        "iss": issuer,
        "aud": audience,
        **claims,
    }
    key = private_key if private_key is not None else test_private_key()
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


def private_key_pem(key=None) -> str:
    """Return a private key as PEM text."""
    key = key or test_private_key()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def run_together(calls: list) -> list:
    """Return the results of each call, run each in its own thread (and database connection)."""
    from django.db import connection  # here: the module is imported before Django is set up

    def run(call):
        try:
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))
