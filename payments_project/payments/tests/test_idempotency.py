"""The Idempotency-Key of POST /payments, following Stripe's rules."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.crypto import salted_hmac

from food_common.idempotency import REPLAYED_HEADER, request_fingerprint
from payments import idempotency
from payments.models import IdempotencyRecord, IdempotencyStatus, Payment
from payments.tests.factories import CUSTOMER, DECLINED_CARD, OTHER_CUSTOMER, PaymentFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("card", "status"), [("4242424242424242", 201), (DECLINED_CARD, 402)])
def test_a_retry_with_the_same_key_and_body_gets_the_first_answer_and_no_second_charge(
    orders, provider, pay, card, status
):
    orders.add(12, customer_id=CUSTOMER)
    first = pay(12, card=card, key="order-12-try-1")

    retry = pay(12, card=card, key="order-12-try-1")

    assert first.status_code == retry.status_code == status
    assert retry.json() == first.json()
    assert retry[REPLAYED_HEADER] == "true"
    assert REPLAYED_HEADER not in first
    assert len(provider.charges) == 1 and Payment.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert (record.customer_id, record.key, record.status) == (CUSTOMER, "order-12-try-1", "done")
    assert record.response_status == status


def test_the_same_card_written_differently_is_the_same_request(orders, provider, pay):
    orders.add(12, customer_id=CUSTOMER)
    pay(12, card="4242424242424242", key="k")

    assert pay(12, card="4242 4242-4242 4242", key="k").status_code == 201
    assert len(provider.charges) == 1


def test_a_saved_error_answer_is_replayed_too(orders, provider, pay):
    orders.add(12, customer_id=CUSTOMER, status="CANCELLED", payable=False)
    first = pay(12, key="k")
    orders.orders[12].update(status="PLACED", payable=True)

    retry = pay(12, key="k")

    assert first.status_code == retry.status_code == 409
    assert retry.json() == first.json()
    assert provider.charges == []


@pytest.mark.parametrize(
    "other_body",
    [
        {"order_id": 13},
        {"card_number": "5555555555554444"},
        {"order_id": 13, "card_number": DECLINED_CARD},
    ],
)
def test_the_same_key_with_other_parameters_is_422(orders, provider, pay, other_body):
    orders.add(12, customer_id=CUSTOMER)
    orders.add(13, customer_id=CUSTOMER)
    pay(12, key="k")

    body = {"order_id": 12, "card_number": "4242424242424242", **other_body}
    response = pay(body.pop("order_id"), card=body.pop("card_number"), key="k")

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert len(provider.charges) == 1


def test_a_key_still_being_processed_is_409(orders, provider, pay):
    orders.add(12, customer_id=CUSTOMER)
    data = {"order_id": 12, "card_number": "4242424242424242"}
    IdempotencyRecord.objects.create(
        customer_id=CUSTOMER,
        key="k",
        request_fingerprint=request_fingerprint(data, salt=idempotency.FINGERPRINT_SALT),
        status=IdempotencyStatus.PROCESSING,
    )

    response = pay(12, key="k")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert provider.charges == [] and not Payment.objects.exists()


def test_a_key_older_than_24_hours_is_treated_as_new(orders, provider, pay):
    orders.add(12, customer_id=CUSTOMER)
    orders.add(13, customer_id=CUSTOMER)
    pay(12, key="k")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=24, minutes=1))

    response = pay(13, key="k")  # other parameters: would be 422 within 24 hours

    assert response.status_code == 201
    assert response.json()["order_id"] == 13
    assert REPLAYED_HEADER not in response
    record = IdempotencyRecord.objects.get()
    assert record.created_at > timezone.now() - timedelta(minutes=1)


def test_a_claim_left_processing_by_a_dead_process_is_taken_over(orders, provider, pay):
    orders.add(12, customer_id=CUSTOMER)
    data = {"order_id": 12, "card_number": "4242424242424242"}
    record = IdempotencyRecord.objects.create(
        customer_id=CUSTOMER,
        key="k",
        request_fingerprint=request_fingerprint(data, salt=idempotency.FINGERPRINT_SALT),
    )
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        created_at=timezone.now() - timedelta(minutes=6)
    )

    assert pay(12, key="k").status_code == 201


def test_keys_belong_to_one_customer(orders, provider, pay, other_customer):
    orders.add(12, customer_id=CUSTOMER)
    orders.add(13, customer_id=OTHER_CUSTOMER)

    assert pay(12, key="shared").status_code == 201
    assert pay(13, key="shared", client=other_customer).status_code == 201
    assert len(provider.charges) == 2


def test_a_concurrent_payment_of_the_order_is_not_saved_for_the_key(orders, provider, pay):
    orders.add(12, customer_id=CUSTOMER)
    pending = PaymentFactory(order_id=12, status="PENDING", provider_reference="")

    busy = pay(12, key="k")
    assert busy.status_code == 409 and busy.json()["code"] == "payment_in_progress"
    assert not IdempotencyRecord.objects.exists()
    pending.status = "FAILED"
    pending.save()

    assert pay(12, key="k").status_code == 201


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "idempotency_key_required"),
        ("", "idempotency_key_required"),
        ("   ", "idempotency_key_required"),
        ("x" * 256, "idempotency_key_invalid"),
        ("tab\there", "idempotency_key_invalid"),
    ],
)
def test_a_missing_or_bad_key_is_400_json(orders, provider, customer, header, code):
    orders.add(12, customer_id=CUSTOMER)
    extra = {} if header is None else {"HTTP_IDEMPOTENCY_KEY": header}

    response = customer.post(
        "/payments", {"order_id": 12, "card_number": "4242424242424242"}, format="json", **extra
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code and body["detail"] and body["request_id"]
    assert provider.charges == [] and not IdempotencyRecord.objects.exists()


def test_invalid_input_is_not_saved_for_the_key(orders, provider, pay):
    orders.add(12, customer_id=CUSTOMER)

    assert pay(12, card="1234", key="k").status_code == 400
    assert not IdempotencyRecord.objects.exists()
    assert pay(12, key="k").status_code == 201


def test_a_key_saved_before_the_shared_fingerprint_is_still_replayed(orders, provider, pay):
    # A record made by the earlier payments-only code: its own HMAC salt, the same canonical JSON.
    orders.add(12, customer_id=CUSTOMER)
    canonical = json.dumps(
        {"card_number": "4242424242424242", "order_id": 12}, sort_keys=True, separators=(",", ":")
    )
    IdempotencyRecord.objects.create(
        customer_id=CUSTOMER,
        key="k",
        request_fingerprint=salted_hmac(
            "payments.idempotency", canonical, algorithm="sha256"
        ).hexdigest(),
        status=IdempotencyStatus.DONE,
        response_status=201,
        response_body={"id": 1},
    )

    retry = pay(12, key="k")

    assert (retry.status_code, retry.json(), retry[REPLAYED_HEADER]) == (201, {"id": 1}, "true")
    assert provider.charges == []


def test_expired_records_are_purged(orders, provider, pay):
    from django.core.management import call_command

    orders.add(12, customer_id=CUSTOMER)
    orders.add(13, customer_id=CUSTOMER)
    pay(12, key="old")
    pay(13, key="new")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )

    call_command("purge_idempotency_records")

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
