"""The payments part of an order's trail, served to the orders service over a signed internal path."""

import pytest

from food_common.events.bus import dispatch
from food_common.events.signing import signed_request_headers
from food_common.request_id import current_request_id
from payments.models import Payment, PaymentStatus
from payments.tests.factories import CUSTOMER, PaymentFactory, envelope, order_cancelled

pytestmark = pytest.mark.django_db


def trail_url(order_id: int, *event_ids: str) -> str:
    query = "&".join(f"event={event_id}" for event_id in event_ids)
    return f"/internal/orders/{order_id}/trail" + (f"?{query}" if query else "")


def signed_get(client, url: str):
    return client.get(url, headers=signed_request_headers("GET", url))


@pytest.fixture
def paid_then_cancelled(orders, provider, pay):
    """Order 12 paid through the API, then cancelled (its order.cancelled handled here)."""
    orders.add(12, customer_id=CUSTOMER)
    response = pay(12)
    assert response.status_code == 201, response.content
    cancelled = envelope("order.cancelled", order_cancelled(12)["data"], request_id="req-cancel")
    # Handled under the request id of the cancellation, as a worker does (food_common.celery_app).
    bound = current_request_id.set("req-cancel")
    try:
        assert dispatch(cancelled, "payments") == []
    finally:
        current_request_id.reset(bound)
    return Payment.objects.get(pk=response.json()["id"]), cancelled


def test_the_part_has_the_payment_its_refund_its_events_and_the_handled_cancellation(
    client, paid_then_cancelled
):
    payment, cancelled = paid_then_cancelled
    PaymentFactory(order_id=13)  # another order's

    response = signed_get(client, trail_url(12, cancelled["id"]))

    assert response.status_code == 200, response.content
    part = response.json()
    assert part["service"] == "payments"
    assert [event["type"] for event in part["published"]] == [
        "payment.succeeded",
        "payment.refunded",
    ]
    # The refund was published under the request id of the cancellation it handled.
    assert part["published"][1]["request_id"] == "req-cancel"
    assert [(h["event_type"], h["handler"], h["queue"]) for h in part["handled"]] == [
        ("order.cancelled", "payments.handlers.refund_cancelled_order", "payments")
    ]
    (row,) = part["payments"]
    assert (row["id"], row["status"], row["amount"], row["card_last4"]) == (
        payment.pk,
        PaymentStatus.REFUNDED,
        "33.00",
        "4242",
    )
    assert row["url"] == f"/admin/payments/payments/payment/{payment.pk}/change/"
    assert [(r["amount"], r["reason"]) for r in row["refunds"]] == [("33.00", "order_cancelled")]
    assert [r["what"] for r in part["records"]] == [
        f"payment {payment.pk} (REFUNDED now)",
        f"refund {row['refunds'][0]['id']} of payment {payment.pk}",
    ]
    assert part["problems"] == [] and part["dead_letters"] == []


def test_a_payment_left_pending_is_a_problem(client):
    pending = PaymentFactory(order_id=12, status=PaymentStatus.PENDING)

    part = signed_get(client, trail_url(12)).json()

    assert len(part["problems"]) == 1
    assert part["problems"][0].startswith(f"payment {pending.pk} is PENDING since")


def test_an_event_not_handled_here_is_not_in_the_part(client, paid_then_cancelled):
    """Without the order.cancelled id, payments cannot tell which of its inbox rows are the order's."""
    part = signed_get(client, trail_url(12)).json()

    assert part["handled"] == []
    assert len(part["published"]) == 2


def test_the_part_needs_a_signed_request_not_a_token(client, admin, paid_then_cancelled):
    url = trail_url(12)

    assert client.get(url).status_code == 403
    assert admin.get(url).status_code == 403  # an admin's token is no signature
    assert client.get(url, headers={"X-Service-Signature": "1:abc"}).status_code == 403
    signed_for_13 = signed_request_headers("GET", trail_url(13))
    assert client.get(url, headers=signed_for_13).status_code == 403


def test_the_internal_path_is_not_in_the_public_schema(api_client):
    schema = api_client.get("/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert not any(path.startswith("/internal/") for path in schema["paths"])


# -- the links between the admins -----------------------------------------------------------------


def test_a_payment_page_links_its_order_and_an_order_s_payments_are_one_link_away(admin_client):
    payment = PaymentFactory(order_id=12)
    PaymentFactory(order_id=13)

    page = admin_client.get(f"/admin/payments/payments/payment/{payment.pk}/change/")
    of_order = admin_client.get("/admin/payments/payments/payment/", {"order_id": 12})

    assert page.status_code == 200
    assert b'href="/admin/orders/orders/order/12/change/"' in page.content
    # The orders admin links an order's payments as this list (orders.trail.order_links).
    assert of_order.status_code == 200
    assert [p.pk for p in of_order.context["cl"].result_list] == [payment.pk]
