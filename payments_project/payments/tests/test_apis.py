"""Paying an order and reading payments through the API (orders faked, the real mock provider)."""

import pytest
from django.core.management import call_command

from food_common.events.models import OutboxEvent
from payments.models import Payment, PaymentStatus
from payments.provider import ProviderError
from payments.tests.factories import (
    CUSTOMER,
    DECLINED_CARD,
    NO_FUNDS_CARD,
    OTHER_CUSTOMER,
    TIMEOUT_CARD,
    PaymentFactory,
)

pytestmark = pytest.mark.django_db


def events(event_type: str) -> list[dict]:
    return [e.data for e in OutboxEvent.objects.filter(type=event_type).order_by("occurred_at")]


@pytest.mark.produces("payment.succeeded")
def test_paying_a_placed_order_charges_its_total_once_and_publishes_payment_succeeded(
    orders, provider, pay
):
    orders.add(12, customer_id=CUSTOMER, total="33.00", currency="EUR")

    response = pay(12, card="4242 4242 4242 4242")

    assert response.status_code == 201, response.content
    body = response.json()
    payment = Payment.objects.get()
    assert body["id"] == payment.id
    assert body["order_id"] == 12
    assert body["customer_id"] == CUSTOMER
    assert body["amount"] == "33.00" and body["currency"] == "EUR"
    assert body["status"] == "SUCCEEDED" and body["failure_reason"] == ""
    assert body["card_last4"] == "4242"
    assert body["provider_reference"].startswith("mock_ch_")
    assert body["refunds"] == []
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.customer_email == "ann@example.com"
    assert [c["idempotency_key"] for c in provider.charges] == [f"charge-{payment.id}"]
    assert events("payment.succeeded") == [
        {
            "payment_id": payment.id,
            "order_id": 12,
            "amount": "33.00",
            "currency": "EUR",
            "customer_id": CUSTOMER,
            "customer_email": "ann@example.com",
        }
    ]
    assert events("payment.failed") == []


def test_the_amount_comes_from_the_order_never_from_the_client(orders, provider, pay):
    orders.add(12, customer_id=CUSTOMER, total="47.5", currency="GBP")

    response = pay(12)

    assert response.status_code == 201
    assert (response.json()["amount"], response.json()["currency"]) == ("47.50", "GBP")
    assert pay(13, amount="0.01").status_code == 400  # an amount in the body is refused


@pytest.mark.produces("payment.failed")
@pytest.mark.parametrize(
    ("card", "reason"), [(DECLINED_CARD, "card_declined"), (NO_FUNDS_CARD, "insufficient_funds")]
)
def test_a_declined_card_answers_402_with_the_failed_payment_and_publishes_payment_failed(
    orders, provider, pay, customer, card, reason
):
    orders.add(12, customer_id=CUSTOMER)

    response = pay(12, card=card)

    # The customer is told "card_declined" whatever the reason; the payment keeps the reason.
    assert response.status_code == 402, response.content
    body = response.json()
    assert body["status"] == "FAILED" and body["failure_reason"] == "card_declined"
    assert body["card_last4"] == card[-4:]
    assert "insufficient" not in response.content.decode()
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.FAILED and payment.failure_reason == reason
    assert customer.get(f"/payments/{payment.id}").json()["failure_reason"] == "card_declined"
    listed = customer.get("/payments", {"order_id": 12}).json()["results"]
    assert [p["failure_reason"] for p in listed] == ["card_declined"]
    assert len(provider.charges) == 1
    assert events("payment.failed") == [
        {
            "payment_id": payment.id,
            "order_id": 12,
            "amount": "33.00",
            "currency": "EUR",
            "customer_id": CUSTOMER,
            "customer_email": "ann@example.com",
            "reason": "card_declined",  # consumers show it to the customer
        }
    ]
    assert events("payment.succeeded") == []


def test_after_a_decline_another_try_with_a_good_card_succeeds(orders, provider, pay):
    orders.add(12, customer_id=CUSTOMER)
    assert pay(12, card=DECLINED_CARD).status_code == 402
    orders.orders[12]["status"] = "PAYMENT_FAILED"  # what payment.failed does to the order

    response = pay(12)

    assert response.status_code == 201
    statuses = list(Payment.objects.order_by("id").values_list("status", flat=True))
    assert statuses == [PaymentStatus.FAILED, PaymentStatus.SUCCEEDED]
    assert len(provider.charges) == 2
    assert len(events("payment.failed")) == 1 and len(events("payment.succeeded")) == 1


# -- card testing: a bound on declined attempts per order ----------------------------------------


def decline(orders, pay, order_id: int, times: int, card: str = DECLINED_CARD) -> None:
    for _ in range(times):
        assert pay(order_id, card=card).status_code == 402
        orders.orders[order_id]["status"] = "PAYMENT_FAILED"  # what payment.failed does


def test_after_the_allowed_declines_the_order_cannot_be_paid_any_more(
    orders, provider, pay, settings
):
    settings.PAYMENT_MAX_FAILED_ATTEMPTS = 3
    orders.add(12, customer_id=CUSTOMER)
    orders.add(13, customer_id=CUSTOMER)
    decline(orders, pay, 12, 2, card=NO_FUNDS_CARD)
    decline(orders, pay, 12, 1)

    # Even with a good card: the bound is on the order, not on the card.
    response = pay(12)

    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "too_many_payment_attempts"
    assert body["max_failed_attempts"] == 3
    assert {"detail", "request_id"} <= set(body)
    assert len(provider.charges) == 3  # nothing more was charged
    assert Payment.objects.filter(order_id=12).count() == 3  # nor recorded
    assert len(events("payment.failed")) == 3
    assert pay(12, card=DECLINED_CARD).json()["code"] == "too_many_payment_attempts"
    # Another order of the same customer is not affected.
    assert pay(13).status_code == 201


def test_the_default_bound_is_five_declines(orders, provider, pay):
    orders.add(12, customer_id=CUSTOMER)
    decline(orders, pay, 12, 5)

    assert pay(12).json()["code"] == "too_many_payment_attempts"
    assert len(provider.charges) == 5


def test_the_refusal_is_the_saved_answer_of_its_idempotency_key(orders, provider, pay, settings):
    settings.PAYMENT_MAX_FAILED_ATTEMPTS = 1
    orders.add(12, customer_id=CUSTOMER)
    decline(orders, pay, 12, 1)

    first = pay(12, key="k-1")
    again = pay(12, key="k-1")

    assert first.status_code == again.status_code == 409
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_failures_that_say_nothing_about_the_card_do_not_count(orders, provider, pay, settings):
    # A provider that timed out or failed, or an abandoned attempt, is not a declined card.
    settings.PAYMENT_MAX_FAILED_ATTEMPTS = 1
    settings.PAYMENT_PROVIDER_TIMEOUT = 0.05
    orders.add(12, customer_id=CUSTOMER)
    for reason in ("provider_error", "abandoned"):
        PaymentFactory(order_id=12, status=PaymentStatus.FAILED, failure_reason=reason)
    assert pay(12, card=TIMEOUT_CARD).status_code == 504
    orders.orders[12]["status"] = "PAYMENT_FAILED"

    assert pay(12, card=DECLINED_CARD).status_code == 402
    assert pay(12).json()["code"] == "too_many_payment_attempts"


def test_a_paid_order_is_not_charged_again(orders, provider, pay):
    orders.add(12, customer_id=CUSTOMER)
    first = pay(12)
    # The orders service may not have heard of the payment yet: payments itself refuses.

    again = pay(12)

    assert again.status_code == 409
    assert again.json()["code"] == "order_already_paid"
    assert again.json()["payment_id"] == first.json()["id"]
    assert Payment.objects.count() == 1 and len(provider.charges) == 1


@pytest.mark.parametrize(
    "order_status", ["PAID", "ACCEPTED", "PREPARING", "DELIVERED", "CANCELLED", "REFUNDED"]
)
def test_an_order_that_is_not_payable_answers_409(orders, provider, pay, order_status):
    orders.add(12, customer_id=CUSTOMER, status=order_status, payable=False)

    response = pay(12)

    assert response.status_code == 409
    assert response.json()["code"] == "order_not_payable"
    assert response.json()["order_status"] == order_status
    assert not Payment.objects.exists() and provider.charges == []


def test_whether_an_order_may_be_paid_is_the_orders_services_flag_not_its_status(
    orders, provider, pay
):
    # Payments keeps no copy of the order statuses: a status it has never heard of is paid when
    # the orders service says so, and a PLACED order is not when it says not.
    orders.add(12, customer_id=CUSTOMER, status="AWAITING_PAYMENT", payable=True)
    orders.add(13, customer_id=CUSTOMER, status="PLACED", payable=False)

    assert pay(12).status_code == 201
    refused = pay(13)
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["order_status"]) == (
        "order_not_payable",
        "PLACED",
    )
    assert len(provider.charges) == 1


def test_someone_elses_order_and_an_unknown_order_are_404(orders, provider, pay):
    orders.add(12, customer_id=OTHER_CUSTOMER)

    for order_id in (12, 999):
        response = pay(order_id)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert not Payment.objects.exists() and provider.charges == []


def test_an_order_the_caller_sees_but_did_not_place_is_404(orders, provider, pay):
    orders.add(12, customer_id=CUSTOMER)
    orders.answer = {**orders.orders[12], "customer_id": OTHER_CUSTOMER}

    assert pay(12).status_code == 404


@pytest.mark.parametrize(
    ("kind", "code"), [("unavailable", "upstream_unavailable"), ("timeout", "upstream_timeout")]
)
def test_orders_down_answers_503_and_creates_nothing(orders, provider, pay, kind, code):
    orders.add(12, customer_id=CUSTOMER)
    orders.down = kind

    response = pay(12, key="k-1")

    assert response.status_code == 503
    assert response.json()["code"] == code and response.json()["service"] == "orders"
    assert not Payment.objects.exists() and provider.charges == []
    # Nothing happened, so the same key works once orders is back.
    orders.down = None
    assert pay(12, key="k-1").status_code == 201


PAYABLE = {"id": 12, "status": "PLACED", "payable": True, "total": "33.00", "currency": "EUR"}


@pytest.mark.parametrize(
    "answer",
    [
        {**PAYABLE, "id": 13},
        {**PAYABLE, "total": "0.00"},
        {**PAYABLE, "total": "-3"},
        {**PAYABLE, "total": "NaN"},
        {**PAYABLE, "total": "Infinity"},
        {**PAYABLE, "total": "abc"},
        {**PAYABLE, "total": "1e20"},
        {**PAYABLE, "currency": "euro"},
        {k: v for k, v in PAYABLE.items() if k != "total"},
        {k: v for k, v in PAYABLE.items() if k != "payable"},
        {**PAYABLE, "payable": "true"},
        {**PAYABLE, "payable": None},
        ["not", "an", "object"],
    ],
)
def test_an_unusable_orders_answer_is_502_and_charges_nothing(orders, provider, pay, answer):
    orders.answer = answer

    response = pay(12)

    assert response.status_code == 502
    assert response.json()["code"] == "bad_gateway"
    assert not Payment.objects.exists() and provider.charges == []


def test_a_provider_timeout_answers_504_and_the_payment_is_failed_not_pending(
    orders, provider, pay, settings
):
    settings.PAYMENT_PROVIDER_TIMEOUT = 0.05
    orders.add(12, customer_id=CUSTOMER)

    response = pay(12, card=TIMEOUT_CARD)

    assert response.status_code == 504
    body = response.json()
    payment = Payment.objects.get()
    assert body["code"] == "provider_timeout" and body["payment_id"] == payment.id
    assert {"detail", "request_id"} <= set(body)
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_reason == "provider_timeout"
    assert [e["reason"] for e in events("payment.failed")] == ["provider_timeout"]
    # A new attempt with another card (and key) is possible.
    orders.orders[12]["status"] = "PAYMENT_FAILED"
    assert pay(12).status_code == 201


def test_a_provider_error_answers_502_and_the_payment_is_failed(orders, monkeypatch, pay):
    class BrokenProvider:
        def charge(self, **kwargs):
            raise ProviderError("connection refused")

    monkeypatch.setattr("payments.provider.get_provider", BrokenProvider)
    orders.add(12, customer_id=CUSTOMER)

    response = pay(12)

    assert response.status_code == 502
    assert response.json()["code"] == "provider_error"
    payment = Payment.objects.get()
    assert (payment.status, payment.failure_reason) == (PaymentStatus.FAILED, "provider_error")
    assert [e["reason"] for e in events("payment.failed")] == ["provider_error"]


def test_only_customers_pay(orders, owner, admin, api_client, pay):
    orders.add(12, customer_id=CUSTOMER)

    assert pay(12, client=owner).status_code == 403
    assert pay(12, client=admin).status_code == 403
    assert pay(12, client=api_client).status_code == 401
    assert not Payment.objects.exists()


def test_a_card_number_is_never_stored_beyond_its_last_four_digits(orders, provider, pay):
    orders.add(12, customer_id=CUSTOMER)
    orders.add(13, customer_id=CUSTOMER)
    pay(12)
    pay(13, card=DECLINED_CARD)

    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("payments_payment", "payments_idempotencyrecord", "events_outboxevent"):
            cursor.execute(f"SELECT t::text FROM {table} t")  # noqa: S608 - fixed names
            rows = " ".join(row[0] for row in cursor.fetchall())
            assert "424242424242" not in rows and "400000000000" not in rows, table


# -- reading -----------------------------------------------------------------------------------


def test_a_payment_is_visible_to_its_customer_and_admins_only(customer, other_customer, admin):
    payment = PaymentFactory(customer_id=CUSTOMER)

    assert customer.get(f"/payments/{payment.id}").json()["id"] == payment.id
    assert admin.get(f"/payments/{payment.id}").status_code == 200
    hidden = other_customer.get(f"/payments/{payment.id}")
    assert hidden.status_code == 404 and hidden.json()["code"] == "not_found"
    assert customer.get("/payments/999999").status_code == 404
    assert customer.get(f"/payments/{2**70}").status_code == 404


def test_the_list_shows_the_callers_payments_newest_first(customer, other_customer, admin):
    older = PaymentFactory(customer_id=CUSTOMER, order_id=1)
    newer = PaymentFactory(customer_id=CUSTOMER, order_id=2, status=PaymentStatus.FAILED)
    theirs = PaymentFactory(customer_id=OTHER_CUSTOMER, order_id=3)

    mine = customer.get("/payments").json()
    everyone = admin.get("/payments").json()

    assert [p["id"] for p in mine["results"]] == [newer.id, older.id]
    assert mine["count"] == 2 and mine["next"] is None
    assert [p["id"] for p in everyone["results"]] == [theirs.id, newer.id, older.id]
    assert [p["id"] for p in other_customer.get("/payments").json()["results"]] == [theirs.id]


def test_the_list_filters_by_order_and_pages(customer, admin):
    for _ in range(3):
        PaymentFactory(order_id=7, status=PaymentStatus.FAILED)
    for order_id in range(100, 118):  # 21 in all: more than a page of 20
        PaymentFactory(order_id=order_id)

    assert customer.get("/payments", {"order_id": 7}).json()["count"] == 3
    assert customer.get("/payments", {"order_id": 9}).json()["count"] == 0
    first, second = (admin.get("/payments", {"page": n}).json() for n in (1, 2))
    assert first["count"] == second["count"] == 21
    assert (len(first["results"]), len(second["results"])) == (20, 1)
    assert first["next"] and second["next"] is None
    ids = {p["id"] for p in first["results"] + second["results"]}
    assert len(ids) == 21


def test_the_list_needs_a_valid_token(api_client):
    reply = api_client.get("/payments")
    assert reply.status_code == 401
    assert reply.json()["code"] == "not_authenticated"
    assert reply["WWW-Authenticate"].startswith("Bearer")


# -- the schema --------------------------------------------------------------------------------


def test_schema_documents_every_endpoint(api_client):
    response = api_client.get("/schema", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/payments"]) == {"get", "post"}
    assert set(paths["/payments/{payment_id}"]) == {"get"}
    assert set(paths["/payments/{payment_id}/refund"]) == {"post"}
    create = paths["/payments"]["post"]
    assert {"201", "402", "400", "404", "409", "422", "503", "504"} <= set(create["responses"])
    assert "too_many_payment_attempts" in create["responses"]["409"]["description"]
    assert "card_declined" in create["responses"]["402"]["description"]
    assert "insufficient_funds" not in create["responses"]["402"]["description"]
    header = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")
    assert header["in"] == "header" and header["required"] is True
    assert {p["name"] for p in paths["/payments"]["get"]["parameters"]} == {"order_id", "page"}


def test_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "s.yaml"))
