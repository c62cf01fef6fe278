"""What the database itself refuses, whatever code writes to it."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from payments.models import PaymentStatus
from payments.tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db


def refused(**fields) -> bool:
    try:
        with transaction.atomic():
            PaymentFactory(**fields)
    except IntegrityError:
        return True
    return False


def test_one_pending_and_one_paid_payment_per_order_any_number_failed():
    PaymentFactory(order_id=1, status=PaymentStatus.PENDING)
    PaymentFactory(order_id=1, status=PaymentStatus.SUCCEEDED)
    PaymentFactory(order_id=1, status=PaymentStatus.FAILED)
    PaymentFactory(order_id=1, status=PaymentStatus.FAILED)

    assert refused(order_id=1, status=PaymentStatus.PENDING)
    assert refused(order_id=1, status=PaymentStatus.SUCCEEDED)
    assert refused(order_id=1, status=PaymentStatus.REFUNDED)
    assert not refused(order_id=2, status=PaymentStatus.PENDING)


@pytest.mark.parametrize(
    "fields",
    [
        {"amount": Decimal("0")},
        {"amount": Decimal("-1")},
        {"status": "PAID"},
        {"card_last4": "42a2"},
        {"card_last4": "424"},
    ],
)
def test_invalid_payments_are_refused(fields):
    assert refused(**fields)
