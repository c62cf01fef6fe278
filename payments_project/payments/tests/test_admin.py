"""The Django admin: payments with their refunds, read-only, searchable; a refund action."""

import pytest

from payments.models import IdempotencyRecord, Payment, PaymentStatus
from payments.tests.factories import CUSTOMER, PaymentFactory

pytestmark = pytest.mark.django_db

PAYMENTS = "/admin/payments/payments/payment/"


def test_the_list_filters_by_status_and_searches_by_exact_order_id(admin_client):
    PaymentFactory(order_id=12, status=PaymentStatus.FAILED)
    PaymentFactory(order_id=123)

    by_order = admin_client.get(PAYMENTS, {"q": "12"})
    by_status = admin_client.get(PAYMENTS, {"status__exact": "FAILED"})

    assert by_order.status_code == 200
    assert [p.order_id for p in by_order.context["cl"].result_list] == [12]
    assert [p.order_id for p in by_status.context["cl"].result_list] == [12]


def test_a_payment_page_shows_its_refunds_and_changes_nothing(admin_client):
    payment = PaymentFactory(amount="12.50")
    payment.refunds.create(amount="12.50", provider_reference="mock_re_1", reason="test")
    url = f"{PAYMENTS}{payment.id}/change/"

    page = admin_client.get(url)
    admin_client.post(url, {"amount": "0.01", "status": "FAILED"})

    assert page.status_code == 200
    assert b"mock_re_1" in page.content
    payment.refresh_from_db()
    assert (str(payment.amount), payment.status) == ("12.50", PaymentStatus.SUCCEEDED)
    assert admin_client.get(f"{PAYMENTS}add/").status_code == 403


def test_the_refund_action_refunds_through_the_service(admin_client, orders, provider, pay):
    orders.add(12, customer_id=CUSTOMER)
    payment_id = pay(12).json()["id"]
    failed = PaymentFactory(status=PaymentStatus.FAILED)

    response = admin_client.post(
        PAYMENTS, {"action": "refund", "_selected_action": [payment_id, failed.id]}, follow=True
    )

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any("1 payment(s) refunded" in m for m in messages)
    assert any(f"Payment {failed.id}" in m for m in messages)
    assert Payment.objects.get(pk=payment_id).status == PaymentStatus.REFUNDED


def test_the_admin_shows_the_providers_precise_decline_reason(admin_client, customer):
    payment = PaymentFactory(status=PaymentStatus.FAILED, failure_reason="insufficient_funds")

    listed = admin_client.get(PAYMENTS, {"status__exact": "FAILED"})
    page = admin_client.get(f"{PAYMENTS}{payment.id}/change/")

    assert b"insufficient_funds" in listed.content and b"insufficient_funds" in page.content
    # ...while its customer is only told the card was declined.
    assert customer.get(f"/payments/{payment.id}").json()["failure_reason"] == "card_declined"


def test_idempotency_records_are_read_only(admin_client):
    record = IdempotencyRecord.objects.create(customer_id=1, key="k", request_fingerprint="f")

    assert admin_client.get("/admin/payments/payments/idempotencyrecord/").status_code == 200
    assert (
        admin_client.get(
            f"/admin/payments/payments/idempotencyrecord/{record.id}/change/"
        ).status_code
        == 200
    )
    assert admin_client.get("/admin/payments/payments/idempotencyrecord/add/").status_code == 403
    assert (
        admin_client.post(
            f"/admin/payments/payments/idempotencyrecord/{record.id}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
