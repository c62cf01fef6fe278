"""Refunds: the cancel saga's handler (through the real bus dispatch) and the admin endpoint."""

import pytest

from food_common.events.bus import dispatch
from food_common.events.models import InboxEntry, OutboxEvent
from payments import errors, services
from payments.models import Payment, PaymentStatus, Refund
from payments.provider import ProviderError
from payments.tests.factories import CUSTOMER, DECLINED_CARD, PaymentFactory, order_cancelled

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(orders, provider, pay):
    """Return `paid(order_id)`: a SUCCEEDED payment made through the API and the mock provider."""

    def make(order_id: int = 12) -> Payment:
        orders.add(order_id, customer_id=CUSTOMER)
        response = pay(order_id)
        assert response.status_code == 201, response.content
        return Payment.objects.get(pk=response.json()["id"])

    return make


def refunded_events() -> list[dict]:
    return [e.data for e in OutboxEvent.objects.filter(type="payment.refunded")]


@pytest.mark.consumes("order.cancelled")
@pytest.mark.produces("payment.refunded")
def test_order_cancelled_refunds_its_paid_order_once_even_when_delivered_twice(paid, provider):
    payment = paid(12)
    event = order_cancelled(12)

    first = dispatch(event, "payments")
    second = dispatch(event, "payments")

    assert first == second == []
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    refund = Refund.objects.get()
    assert refund.payment == payment and refund.amount == payment.amount
    assert refund.provider_reference.startswith("mock_re_")
    assert refund.reason == "order_cancelled" and refund.by_user_id is None
    assert provider.refunds == [
        {
            "reference": payment.provider_reference,
            "amount": payment.amount,
            "idempotency_key": f"refund-{payment.id}",
        }
    ]
    assert refunded_events() == [
        {
            "payment_id": payment.id,
            "order_id": 12,
            "amount": "33.00",
            "currency": "EUR",
            "customer_id": CUSTOMER,
            "customer_email": "ann@example.com",
        }
    ]
    assert InboxEntry.objects.count() == 1


def test_a_second_order_cancelled_event_for_a_refunded_order_changes_nothing(paid, provider):
    # The orders service publishes order.cancelled again when a payment succeeds for an order
    # it had cancelled: a new event id, which the inbox does not stop.
    paid(12)
    dispatch(order_cancelled(12), "payments")

    assert dispatch(order_cancelled(12), "payments") == []

    assert Refund.objects.count() == 1 and len(provider.refunds) == 1
    assert len(refunded_events()) == 1


def test_order_cancelled_without_a_payment_that_took_money_refunds_nothing(orders, provider, pay):
    orders.add(12, customer_id=CUSTOMER)
    pay(12, card=DECLINED_CARD)

    for order_id in (12, 404):
        assert dispatch(order_cancelled(order_id, was_paid=False), "payments") == []

    assert provider.refunds == [] and not Refund.objects.exists()
    assert Payment.objects.get().status == PaymentStatus.FAILED


def test_a_refund_the_provider_refuses_fails_the_handler_and_changes_nothing(paid, monkeypatch):
    payment = paid(12)

    class RefusingProvider:
        def refund(self, **kwargs):
            raise ProviderError("provider down")

    monkeypatch.setattr("payments.provider.get_provider", RefusingProvider)

    failures = dispatch(order_cancelled(12), "payments")

    # The bus retries it, then dead-letters it: nothing is swallowed, nothing half-written.
    assert len(failures) == 1 and "RefundFailed" in failures[0][1]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert not Refund.objects.exists() and refunded_events() == []
    assert not InboxEntry.objects.exists()


def test_a_malformed_order_cancelled_event_fails(provider):
    failures = dispatch(order_cancelled(None, validate=False), "payments")

    assert len(failures) == 1 and not InboxEntry.objects.exists()


def test_payment_refund_is_idempotent_and_refuses_payments_that_took_no_money(paid, provider):
    payment = paid(12)

    first = services.payment_refund(payment_id=payment.id, reason="test")
    again = services.payment_refund(payment_id=payment.id, reason="test")

    assert first == again and len(provider.refunds) == 1
    for status in (PaymentStatus.FAILED, PaymentStatus.PENDING):
        other = PaymentFactory(status=status, provider_reference="")
        with pytest.raises(errors.PaymentNotRefundable):
            services.payment_refund(payment_id=other.id, reason="test")
    with pytest.raises(errors.PaymentNotFound):
        services.payment_refund(payment_id=999999, reason="test")


# -- POST /payments/{id}/refund ----------------------------------------------------------------


def test_only_admins_refund_through_the_api(paid, customer, owner, api_client, admin):
    payment = paid(12)
    url = f"/payments/{payment.id}/refund"

    assert customer.post(url).status_code == 403
    assert owner.post(url).status_code == 403
    assert api_client.post(url).status_code == 401
    assert Payment.objects.get().status == PaymentStatus.SUCCEEDED

    response = admin.post(url, {"reason": "customer complaint"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == payment.id and body["status"] == "REFUNDED"
    assert [r["reason"] for r in body["refunds"]] == ["customer complaint"]
    assert body["refunds"][0]["amount"] == "33.00"
    assert Refund.objects.get().by_user_id == 301
    assert len(refunded_events()) == 1


def test_refunding_twice_through_the_api_answers_the_same_payment(paid, admin, provider):
    payment = paid(12)
    url = f"/payments/{payment.id}/refund"

    first = admin.post(url)
    second = admin.post(url)

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(provider.refunds) == 1 and len(refunded_events()) == 1


def test_refund_api_errors(admin, provider):
    failed = PaymentFactory(status=PaymentStatus.FAILED, provider_reference="")
    unknown_charge = PaymentFactory(status=PaymentStatus.SUCCEEDED)  # the provider never saw it

    not_refundable = admin.post(f"/payments/{failed.id}/refund")
    missing = admin.post("/payments/999999/refund")
    provider_refused = admin.post(f"/payments/{unknown_charge.id}/refund")
    bad_body = admin.post(f"/payments/{failed.id}/refund", {"reason": "x" * 201}, format="json")

    assert not_refundable.status_code == 409
    assert not_refundable.json()["code"] == "payment_not_refundable"
    assert missing.status_code == 404
    assert provider_refused.status_code == 502
    assert provider_refused.json()["code"] == "provider_error"
    unknown_charge.refresh_from_db()
    assert unknown_charge.status == PaymentStatus.SUCCEEDED
    assert bad_body.status_code == 400
