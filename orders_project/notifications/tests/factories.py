import uuid

import factory
from factory.django import DjangoModelFactory

# User ids (the `sub` of the test tokens) of the customers the tests play; the envelope builder.
from food_common.testing import CUSTOMER, OTHER_CUSTOMER, envelope  # noqa: F401 - used by the tests
from notifications.models import Notification

ABOUT_ORDER_12 = {
    "order_id": 12,
    "customer_id": CUSTOMER,
    "customer_email": "ann@example.com",
    "restaurant_id": 3,
    "restaurant_owner_id": 101,
}


def order_created_data(**changes) -> dict:
    return {
        **ABOUT_ORDER_12,
        "items": [
            {
                "menu_item_id": 7,
                "name": "Margherita",
                "unit_price": "9.50",
                "quantity": 2,
                "line_total": "19.00",
            },
            {
                "menu_item_id": 8,
                "name": "Tiramisu",
                "unit_price": "5.00",
                "quantity": 1,
                "line_total": "5.00",
            },
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
    "order.status_changed": {**ABOUT_ORDER_12, "from_status": "PAID", "to_status": "ACCEPTED"},
    "order.cancelled": {
        **ABOUT_ORDER_12,
        "was_paid": True,
        "total": "24.00",
        "currency": "EUR",
        "reason": "",
    },
    "payment.succeeded": payment_data(),
    "payment.failed": payment_data(reason="card_declined"),
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
