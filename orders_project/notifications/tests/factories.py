import uuid
from datetime import UTC, datetime

import factory
from factory.django import DjangoModelFactory

# User ids (the `sub` of the test tokens) of the customers the tests play.
from food_common.testing import CUSTOMER, OTHER_CUSTOMER  # noqa: F401 - used by the tests
from notifications.models import Notification


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


def order_created_data(**changes) -> dict:
    return {
        "order_id": 12,
        "customer_id": CUSTOMER,
        "customer_email": "ann@example.com",
        "restaurant_id": 3,
        "restaurant_owner_id": 101,
        "items": [
            {"menu_item_id": 7, "name": "Margherita", "unit_price": "9.50", "quantity": 2},
            {"menu_item_id": 8, "name": "Tiramisu", "unit_price": "5.00", "quantity": 1},
        ],
        "subtotal": "24.00",
        "total": "24.00",
        "currency": "EUR",
        **changes,
    }


def payment_data(**changes) -> dict:
    return {
        "payment_id": 31,
        "order_id": 12,
        "amount": "24.00",
        "currency": "EUR",
        "customer_id": CUSTOMER,
        "customer_email": "ann@example.com",
        **changes,
    }


EVENTS = {
    "order.created": order_created_data(),
    "order.status_changed": {
        "order_id": 12,
        "customer_id": CUSTOMER,
        "customer_email": "ann@example.com",
        "from_status": "PAID",
        "to_status": "ACCEPTED",
    },
    "order.cancelled": {
        "order_id": 12,
        "customer_id": CUSTOMER,
        "customer_email": "ann@example.com",
        "was_paid": True,
        "total": "24.00",
        "currency": "EUR",
    },
    "payment.succeeded": payment_data(),
    "payment.failed": payment_data(reason="card declined"),
    "payment.refunded": payment_data(),
}


class NotificationFactory(DjangoModelFactory):
    class Meta:
        model = Notification

    recipient_id = CUSTOMER
    recipient_email = "ann@example.com"
    subject = factory.Sequence(lambda n: f"Order #{n} placed")
    body = "Thank you!"
    event_id = factory.LazyFunction(uuid.uuid4)
    event_type = "order.created"
