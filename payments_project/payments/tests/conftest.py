import itertools
import uuid

import pytest
from celery.app.base import Celery
from django.core.cache import caches

from food_common.authentication import ROLE_ADMIN, ROLE_CUSTOMER, ROLE_RESTAURANT_OWNER
from payments.tests.factories import ADMIN, CUSTOMER, GOOD_CARD, OTHER_CUSTOMER, OWNER
from payments.tests.fakes import CountingProvider, FakeOrders

RUN_PREFIX = f"payments-test-{uuid.uuid4().hex[:8]}"
_test_numbers = itertools.count()


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """Give each test its own key prefix in the shared Redis (the mock provider's records), and
    delete its keys afterwards."""
    prefix = f"{RUN_PREFIX}-{next(_test_numbers)}"
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    test_cache = caches["default"]
    yield
    try:
        test_cache.delete_pattern("*")  # only this test's keys: the pattern carries the prefix
    except Exception:  # noqa: BLE001 - a test that broke Redis on purpose
        pass


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """Nothing reaches the shared Redis broker: the outbox relay is a no-op, sending fails."""
    sent = []

    def relay(event):
        sent.append(event)
        return True

    def refuse(*args, **kwargs):
        raise AssertionError("a unit test tried to send a Celery message")

    monkeypatch.setattr("food_common.events.bus.relay", relay)
    monkeypatch.setattr(Celery, "send_task", refuse)
    return sent


@pytest.fixture(autouse=True)
def _fast_provider(settings):
    settings.PAYMENT_PROVIDER = "payments.provider.MockProvider"
    settings.PAYMENT_PROVIDER_TIMEOUT = 0.2
    settings.MOCK_PROVIDER_LATENCY_MS = 0


@pytest.fixture
def orders(monkeypatch) -> FakeOrders:
    fake = FakeOrders()
    monkeypatch.setattr("payments.clients.get_orders_client", lambda: fake)
    return fake


@pytest.fixture
def provider(monkeypatch) -> CountingProvider:
    counting = CountingProvider()
    monkeypatch.setattr("payments.provider.get_provider", lambda: counting)
    return counting


@pytest.fixture
def customer(api_client_as):
    return api_client_as(CUSTOMER, ROLE_CUSTOMER, email="ann@example.com")


@pytest.fixture
def other_customer(api_client_as):
    return api_client_as(OTHER_CUSTOMER, ROLE_CUSTOMER)


@pytest.fixture
def owner(api_client_as):
    return api_client_as(OWNER, ROLE_RESTAURANT_OWNER)


@pytest.fixture
def admin(api_client_as):
    return api_client_as(ADMIN, ROLE_ADMIN)


@pytest.fixture
def pay(customer):
    """Return `pay(order_id, card=..., key=..., client=...)`: POST /payments as the customer."""

    def post(order_id, *, card=GOOD_CARD, key=None, client=None, **body):
        return (client or customer).post(
            "/payments",
            {"order_id": order_id, "card_number": card, **body},
            format="json",
            HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex,
        )

    return post
