"""Payments' events, delivered through the real event dispatch, move orders along the saga."""

import pytest

from food_common import testing
from food_common.events.bus import dispatch
from food_common.events.models import OutboxEvent
from orders.models import Order, OrderStatus
from orders.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def envelope(event_type: str, order: Order, **data) -> dict:
    """Return payment 7's `event_type` about `order`, as the contract says payments sends it."""
    return testing.envelope(
        event_type,
        {
            "payment_id": 7,
            "order_id": order.pk,
            "amount": str(order.total),
            "currency": order.currency,
            "customer_id": order.customer_id,
            "customer_email": order.customer_email,
            **data,
        },
    )


@pytest.mark.consumes("payment.succeeded")
def test_payment_succeeded_pays_a_placed_order_once(django_capture_on_commit_callbacks):
    order = OrderFactory()
    event = envelope("payment.succeeded", order)
    assert dispatch(event, "orders") == []
    assert dispatch(event, "orders") == []  # delivered twice: handled once
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.status_changes.filter(to_status=OrderStatus.PAID).count() == 1
    assert OutboxEvent.objects.filter(type="order.status_changed").count() == 1


@pytest.mark.consumes("payment.failed", "payment.succeeded")
def test_payment_failed_then_succeeded(django_capture_on_commit_callbacks):
    order = OrderFactory()
    dispatch(envelope("payment.failed", order, reason="card_declined"), "orders")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_FAILED
    dispatch(envelope("payment.succeeded", order), "orders")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_late_failure_does_not_undo_a_payment():
    order = OrderFactory(status=OrderStatus.PAID)
    assert dispatch(envelope("payment.failed", order, reason="card_declined"), "orders") == []
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_payment_succeeding_after_cancellation_asks_for_a_refund_once():
    order = OrderFactory(status=OrderStatus.CANCELLED)
    event = envelope("payment.succeeded", order)
    dispatch(event, "orders")
    dispatch(envelope("payment.succeeded", order), "orders")  # another delivery of a success
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED and order.refund_pending
    requests = OutboxEvent.objects.filter(type="order.cancelled")
    assert requests.count() == 1 and requests.get().data["was_paid"] is True


@pytest.mark.consumes("payment.refunded")
def test_refund_completes_the_cancel_saga():
    order = OrderFactory(status=OrderStatus.CANCELLED, refund_pending=True)
    dispatch(envelope("payment.refunded", order), "orders")
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED and not order.refund_pending


@pytest.mark.parametrize(
    "status",
    [
        OrderStatus.PAID,
        OrderStatus.ACCEPTED,
        OrderStatus.PREPARING,
        OrderStatus.READY,
        OrderStatus.OUT_FOR_DELIVERY,
        OrderStatus.DELIVERED,
    ],
)
def test_a_refund_without_a_cancellation_moves_a_paid_order_to_refunded(status):
    # An admin refunded the payment in the payments service: no order.cancelled came first.
    order = OrderFactory(status=status)

    assert dispatch(envelope("payment.refunded", order), "orders") == []

    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED and not order.refund_pending
    last = order.status_changes.last()
    assert (last.from_status, last.to_status, last.by_user_id) == (status, "REFUNDED", None)
    assert last.reason == f"payment 7 refunded while the order was {status}"
    event = OutboxEvent.objects.get()
    assert event.type == "order.status_changed"
    assert (event.data["from_status"], event.data["to_status"]) == (status, "REFUNDED")
    # Nothing asks payments for a second refund.
    assert not OutboxEvent.objects.filter(type="order.cancelled").exists()


def test_a_refunded_order_can_no_longer_be_accepted_by_its_owner(owner):
    order = OrderFactory(status=OrderStatus.PAID)
    dispatch(envelope("payment.refunded", order), "orders")

    response = owner.post(f"/orders/{order.id}/status", {"status": "ACCEPTED"}, format="json")

    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "invalid_transition"
    assert (response.json()["from_status"], response.json()["to_status"]) == (
        "REFUNDED",
        "ACCEPTED",
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED


def test_a_refund_delivered_twice_or_again_changes_nothing():
    order = OrderFactory(status=OrderStatus.PAID)
    event = envelope("payment.refunded", order)
    dispatch(event, "orders")

    assert dispatch(event, "orders") == []  # the same delivery again: the inbox skips it
    assert dispatch(envelope("payment.refunded", order), "orders") == []  # another event id

    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert order.status_changes.filter(to_status=OrderStatus.REFUNDED).count() == 1


def test_a_refund_that_overtakes_its_payment_ends_the_order_and_the_late_payment_changes_nothing():
    order = OrderFactory(status=OrderStatus.PLACED)

    dispatch(envelope("payment.refunded", order), "orders")
    dispatch(envelope("payment.succeeded", order), "orders")

    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert not order.status_changes.filter(to_status=OrderStatus.PAID).exists()
    assert not OutboxEvent.objects.filter(type="order.cancelled").exists()


def test_cancelling_a_paid_order_marks_the_refund_pending():
    from orders.services import order_cancel

    order = OrderFactory(status=OrderStatus.PAID)
    order_cancel(order_id=order.pk, by_user_id=order.customer_id, by_role="customer")
    order.refresh_from_db()
    assert order.refund_pending
    assert OutboxEvent.objects.get(type="order.cancelled").data["was_paid"] is True


def test_event_for_an_unknown_order_fails_so_it_is_retried_then_dead_lettered():
    order = OrderFactory()
    event = envelope("payment.succeeded", order)
    event["data"]["order_id"] = 999999
    failures = dispatch(event, "orders")
    assert len(failures) == 1 and "OrderNotFound" in failures[0][1]
