"""Cross-service tests: one real stack per test session, driven over HTTP through the gateway."""

import os
import uuid

import psycopg
import pytest

from tests.client import PASSWORD, Api, unique
from tests.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    # E2E_DB_PREFIX lets two test sessions on one machine keep their databases apart.
    stack = Stack(
        tmp_path_factory.mktemp("stack"),
        prefix=os.environ.get("E2E_DB_PREFIX", "food_e2e"),
        # The session's tokens (session-scoped users) outlive auth's 5-minute default: the
        # suite runs longer than that. Expiry itself is tested with tokens made to expire.
        extra_env={"JWT_ACCESS_MINUTES": "60"},
    )
    stack.prepare()
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def api(stack) -> Api:
    """A client for the public API through the gateway."""
    return Api(stack.gateway_url)


@pytest.fixture
def unique_email():
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture
def customer(api, unique_email):
    """A registered, logged-in customer: {email, password, access, refresh}."""
    return api.register_and_login(unique_email, role="customer")


@pytest.fixture(scope="session")
def menu(api):
    """A restaurant owner with an open restaurant and two dishes."""
    owner = api.register_and_login(
        f"owner-{uuid.uuid4().hex[:8]}@example.com", role="restaurant_owner"
    )
    restaurant = api.post(
        "/restaurants",
        {
            "name": f"Events {uuid.uuid4().hex[:6]}",
            "cuisine": "greek",
            "address": "3 Sea Rd",
            "lat": 52.5219,
            "lon": 13.4132,
            "is_open": True,
        },
        token=owner["access"],
    ).json()
    dishes = [
        api.post(
            f"/restaurants/{restaurant['id']}/menu",
            {"name": name, "category": "main", "price": price, "currency": "EUR"},
            token=owner["access"],
        ).json()
        for name, price in (("Moussaka", "12.50"), ("Souvlaki", "8.00"))
    ]
    return {"owner": owner, "restaurant": restaurant, "dishes": dishes}


# -- an admin (the delivery tests verify riders with it) -------------------------------------------


@pytest.fixture(scope="module")
def admin_email(api, stack) -> str:
    """A registered user promoted to admin in auth's database (admins are never self-made)."""
    email = unique("delivery-admin")
    api.register_and_login(email)
    with psycopg.connect(stack.dsn("auth"), autocommit=True) as conn:
        conn.execute("UPDATE accounts_user SET role = 'admin' WHERE email = %s", [email])
    return email


@pytest.fixture
def admin(api, admin_email) -> dict:
    """The admin, logged in now (access tokens last minutes, the module longer)."""
    reply = api.post("/auth/login", {"email": admin_email, "password": PASSWORD})
    assert reply.status == 200, reply
    return reply.json()
