import uuid
from datetime import UTC, datetime
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

# User ids (the `sub` of the test tokens) of the callers the tests play.
from food_common.testing import ADMIN, CUSTOMER, OTHER_CUSTOMER, OWNER  # noqa: F401
from payments.models import Payment, PaymentStatus

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
NO_FUNDS_CARD = "4000000000009995"
TIMEOUT_CARD = "4000000000000119"


class PaymentFactory(DjangoModelFactory):
    class Meta:
        model = Payment

    order_id = factory.Sequence(lambda n: 1000 + n)
    customer_id = CUSTOMER
    customer_email = "ann@example.com"
    amount = Decimal("33.00")
    currency = "EUR"
    status = PaymentStatus.SUCCEEDED
    provider_reference = factory.LazyFunction(lambda: f"mock_ch_{uuid.uuid4().hex}")
    card_last4 = "4242"
    idempotency_key = factory.LazyFunction(lambda: uuid.uuid4().hex)


def envelope(event_type: str, data: dict, *, event_id: str | None = None) -> dict:
    """Return an event envelope as the bus carries it."""
    return {
        "id": event_id or str(uuid.uuid4()),
        "type": event_type,
        "version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "producer": "tests",
        "request_id": "test-request",
        "data": data,
    }


def order_cancelled(order_id: int, **changes) -> dict:
    return envelope(
        "order.cancelled",
        {
            "order_id": order_id,
            "customer_id": CUSTOMER,
            "customer_email": "ann@example.com",
            "was_paid": True,
            "total": "33.00",
            "currency": "EUR",
            **changes,
        },
    )
