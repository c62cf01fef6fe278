import uuid
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

# User ids (the `sub` of the test tokens) of the callers the tests play.
from food_common.testing import ADMIN, CUSTOMER, OTHER_CUSTOMER, OWNER, envelope  # noqa: F401
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


def order_cancelled(order_id: int, *, validate: bool = True, **changes) -> dict:
    """Return the order.cancelled envelope of `order_id`, as the contract says orders sends it."""
    return envelope(
        "order.cancelled",
        {
            "order_id": order_id,
            "customer_id": CUSTOMER,
            "customer_email": "ann@example.com",
            "restaurant_id": 3,
            "restaurant_owner_id": OWNER,
            "was_paid": True,
            "total": "33.00",
            "currency": "EUR",
            "reason": "",
            **changes,
        },
        validate=validate,
    )
