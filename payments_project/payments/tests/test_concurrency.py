"""Concurrent attempts to pay one order: the database lets exactly one reach the provider."""

import threading
import uuid
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from food_common.events.models import OutboxEvent
from payments.models import Payment, PaymentStatus
from payments.tests.factories import CUSTOMER

ATTEMPTS = 20


def _pay_concurrently(
    token: str, order_id: int, keys: list[str], card: str = "4242424242424242"
) -> list:
    """POST /payments once per key, all threads released together; return the responses."""
    start = threading.Barrier(len(keys))
    responses = [None] * len(keys)

    def attempt(index: int, key: str) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            start.wait(timeout=10)
            responses[index] = client.post(
                "/payments",
                {"order_id": order_id, "card_number": card},
                format="json",
                HTTP_IDEMPOTENCY_KEY=key,
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(i, k)) for i, k in enumerate(keys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return responses


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_payments_of_one_order_charge_it_exactly_once(
    orders, provider, customer, settings
):
    # Given a provider slow enough for every attempt to overlap the first one
    settings.MOCK_PROVIDER_LATENCY_MS = 100
    orders.add(12, customer_id=CUSTOMER)
    token = customer._credentials["HTTP_AUTHORIZATION"].removeprefix("Bearer ")

    # When 20 requests with different keys pay it at the same moment
    responses = _pay_concurrently(token, 12, [uuid.uuid4().hex for _ in range(ATTEMPTS)])

    # Then one is charged, and every other one is told why not
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: ATTEMPTS - 1}, [r.content for r in responses]
    codes = {r.json()["code"] for r in responses if r.status_code == 409}
    assert codes <= {"payment_in_progress", "order_already_paid"}
    assert len(provider.charges) == 1
    assert list(Payment.objects.values_list("status", flat=True)) == [PaymentStatus.SUCCEEDED]
    assert OutboxEvent.objects.filter(type="payment.succeeded").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_charge_once_and_agree(
    orders, provider, customer, settings
):
    settings.MOCK_PROVIDER_LATENCY_MS = 100
    orders.add(12, customer_id=CUSTOMER)
    token = customer._credentials["HTTP_AUTHORIZATION"].removeprefix("Bearer ")

    responses = _pay_concurrently(token, 12, ["same-key"] * 8)

    # One ran; each other one was refused while it ran, or replayed its answer after.
    assert len(provider.charges) == 1
    ran = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r]
    replayed = [r for r in responses if "Idempotent-Replayed" in r]
    refused = [r for r in responses if r.status_code == 409]
    assert len(ran) == 1 and len(ran) + len(replayed) + len(refused) == 8
    assert all(r.json() == ran[0].json() and r.status_code == 201 for r in replayed)
    assert {r.json()["code"] for r in refused} <= {"idempotency_key_in_use"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_declined_attempts_never_go_past_the_bound(orders, provider, customer, settings):
    # Given an order that may be declined 3 times, and a card tester's many parallel attempts
    settings.PAYMENT_MAX_FAILED_ATTEMPTS = 3
    settings.MOCK_PROVIDER_LATENCY_MS = 20
    orders.add(12, customer_id=CUSTOMER)
    token = customer._credentials["HTTP_AUTHORIZATION"].removeprefix("Bearer ")

    # When rounds of 10 concurrent declined attempts go on until every one is refused
    codes: Counter = Counter()
    for _ in range(20):
        keys = [uuid.uuid4().hex for _ in range(10)]
        responses = _pay_concurrently(token, 12, keys, card="4000000000000002")
        round_codes = Counter(
            "declined" if r.status_code == 402 else r.json()["code"] for r in responses
        )
        codes.update(round_codes)
        if round_codes == {"too_many_payment_attempts": 10}:
            break

    # Then exactly 3 reached the provider, and every other one was refused without a charge
    assert codes["declined"] == 3, codes
    assert set(codes) <= {"declined", "payment_in_progress", "too_many_payment_attempts"}
    assert len(provider.charges) == 3
    assert list(Payment.objects.values_list("status", flat=True)) == [PaymentStatus.FAILED] * 3
