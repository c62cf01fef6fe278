"""Concurrent requests against real transactions (each thread has its own database connection)."""

import threading
import time

import pytest

from food_common.authentication import ROLE_CUSTOMER
from food_common.events.models import OutboxEvent
from food_common.testing import run_together
from orders import placing, transitions
from orders.models import Order, OrderStatus
from orders.tests.factories import CUSTOMER, OrderFactory
from orders.tests.test_place import BODY

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 10


def test_ten_concurrent_requests_with_one_key_make_one_order_and_one_event(
    api_client_as, catalog, no_relay, monkeypatch
):
    # Given: all ten requests get past the "key already used?" check before any of them inserts,
    # and the first to insert holds its transaction open a while, so the others' INSERTs must
    # wait on the unique index for its commit.
    everyone_priced = threading.Barrier(THREADS)
    price = catalog.menu_items

    def menu_items_together(**kwargs):
        everyone_priced.wait(timeout=10)
        return price(**kwargs)

    catalog.menu_items = menu_items_together
    publish = placing.publish

    def slow_publish(event_type, data):
        event = publish(event_type, data)
        time.sleep(0.3)
        return event

    monkeypatch.setattr(placing, "publish", slow_publish)
    duplicates = []
    violates = placing.violates

    def record_duplicate(exc, constraint):
        if violates(exc, constraint):
            duplicates.append(constraint)
            return True
        return False

    monkeypatch.setattr(placing, "violates", record_duplicate)
    clients = [api_client_as(CUSTOMER, ROLE_CUSTOMER) for _ in range(THREADS)]

    def place(client):
        response = client.post("/orders", BODY, format="json", HTTP_IDEMPOTENCY_KEY="one-key")
        return response.status_code, response.json()

    # When
    results = run_together([lambda c=c: place(c) for c in clients])

    # Then
    assert sorted(status for status, _ in results) == [200] * (THREADS - 1) + [201]
    assert len({body["id"] for _, body in results}) == 1
    assert Order.objects.count() == 1
    assert OutboxEvent.objects.filter(type="order.created").count() == 1
    assert len(no_relay) == 1  # relayed once the one transaction committed
    # The nine others were turned away by the unique index, not by the check before pricing.
    assert duplicates == [placing.IDEMPOTENCY_CONSTRAINT] * (THREADS - 1)


def test_concurrent_requests_with_one_key_and_different_bodies(api_client_as, catalog, no_relay):
    clients = [api_client_as(CUSTOMER, ROLE_CUSTOMER) for _ in range(4)]

    def place(client, quantity):
        body = {**BODY, "items": [{"menu_item_id": 1, "quantity": quantity}]}
        return client.post("/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code

    results = run_together([lambda c=c, n=n: place(c, n) for n, c in enumerate(clients, start=1)])

    assert sorted(results) == [201, 422, 422, 422]
    assert Order.objects.count() == 1
    assert OutboxEvent.objects.count() == 1


def test_concurrent_cancel_and_accept_are_serialized_by_the_row_lock(
    owner, customer, no_relay, monkeypatch
):
    order = OrderFactory(status=OrderStatus.PAID)
    publish = transitions.publish

    def slow_publish(event_type, data):
        time.sleep(0.2)  # hold the row lock: the other request must wait and re-read the status
        return publish(event_type, data)

    monkeypatch.setattr(transitions, "publish", slow_publish)

    results = run_together(
        [
            lambda: customer.post(f"/orders/{order.id}/cancel").status_code,
            lambda: (
                owner.post(
                    f"/orders/{order.id}/status", {"status": "ACCEPTED"}, format="json"
                ).status_code
            ),
        ]
    )

    # Either order of the two is valid: cancel then accept (409), or accept then cancel (200).
    order.refresh_from_db()
    if results == [200, 409]:
        assert order.status == OrderStatus.CANCELLED
    else:
        assert results == [200, 200]
        assert order.status == OrderStatus.CANCELLED
        steps = [(c.from_status, c.to_status) for c in order.status_changes.all()]
        assert steps[-2:] == [("PAID", "ACCEPTED"), ("ACCEPTED", "CANCELLED")]
    assert OutboxEvent.objects.count() == order.status_changes.count() - 2
