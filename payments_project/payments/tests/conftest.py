import uuid

import pytest
from celery.app.base import Celery

from food_common.authentication import ROLE_CUSTOMER
from payments.clients import OrdersClient
from payments.tests.factories import CUSTOMER, GOOD_CARD
from payments.tests.fakes import CountingProvider, FakeOrders


@pytest.fixture(autouse=True)
def _no_broker(no_relay, monkeypatch):
    """Nothing reaches the shared Redis broker: events stay in the outbox, sending fails."""

    def refuse(*args, **kwargs):
        raise AssertionError("a unit test tried to send a Celery message")

    monkeypatch.setattr(Celery, "send_task", refuse)


@pytest.fixture(autouse=True)
def _fast_provider(settings):
    settings.PAYMENT_PROVIDER = "payments.provider.MockProvider"
    settings.PAYMENT_PROVIDER_TIMEOUT = 0.2
    settings.MOCK_PROVIDER_LATENCY_MS = 0


@pytest.fixture
def orders(monkeypatch) -> FakeOrders:
    fake = FakeOrders()
    monkeypatch.setattr("payments.clients.get_orders_client", lambda: OrdersClient(fake))
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
