"""The periodic safety net: payments left PENDING by a dead request become FAILED."""

from datetime import timedelta

import pytest
from django.utils import timezone

from food_common.events.models import OutboxEvent
from payments.models import IdempotencyRecord, Payment, PaymentStatus
from payments.tasks import expire_stale_pending, purge_idempotency_records
from payments.tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db


def test_payments_pending_for_more_than_five_minutes_are_failed_as_abandoned():
    stale = PaymentFactory(status=PaymentStatus.PENDING, provider_reference="")
    fresh = PaymentFactory(status=PaymentStatus.PENDING, provider_reference="")
    done = PaymentFactory(status=PaymentStatus.SUCCEEDED)
    Payment.objects.filter(pk__in=[stale.pk, done.pk]).update(
        created_at=timezone.now() - timedelta(minutes=6)
    )

    assert expire_stale_pending() == 1

    statuses = dict(Payment.objects.values_list("pk", "status"))
    assert statuses == {
        stale.pk: PaymentStatus.FAILED,
        fresh.pk: PaymentStatus.PENDING,
        done.pk: PaymentStatus.SUCCEEDED,
    }
    stale.refresh_from_db()
    assert stale.failure_reason == "abandoned"
    event = OutboxEvent.objects.get(type="payment.failed")
    assert event.data["payment_id"] == stale.pk and event.data["reason"] == "abandoned"
    assert expire_stale_pending() == 0


def test_the_purge_task_deletes_expired_idempotency_records():
    IdempotencyRecord.objects.create(customer_id=1, key="old", request_fingerprint="f")
    IdempotencyRecord.objects.create(customer_id=1, key="new", request_fingerprint="f")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )

    assert purge_idempotency_records() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
