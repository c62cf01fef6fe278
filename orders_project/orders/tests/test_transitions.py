"""The order state machine, cancel and the kitchen status endpoint: history rows and events."""

import itertools

import pytest

from food_common.events.models import OutboxEvent
from orders import services, transitions
from orders.errors import OrderNotFound
from orders.models import OrderStatus, OrderStatusChange
from orders.state_machine import TRANSITIONS, InvalidTransition
from orders.tests.factories import (
    ADMIN,
    CUSTOMER,
    DROPOFF,
    OWNER,
    PICKUP,
    RESTAURANT,
    OrderFactory,
)

pytestmark = pytest.mark.django_db

S = OrderStatus
# The design's "Order statuses", written out independently of orders.state_machine.TRANSITIONS.
DESIGN = {
    (S.PLACED, S.PAID),
    (S.PLACED, S.PAYMENT_FAILED),
    (S.PAYMENT_FAILED, S.PAID),
    (S.PAID, S.ACCEPTED),
    (S.ACCEPTED, S.PREPARING),
    (S.PREPARING, S.READY),
    # The issue "Delivery": the rider takes it from READY; a cancel before pickup frees the rider,
    # after pickup only an admin's (orders.transitions.CANCEL_ONLY_BY) is allowed.
    (S.READY, S.OUT_FOR_DELIVERY),
    (S.OUT_FOR_DELIVERY, S.DELIVERED),
    (S.PLACED, S.CANCELLED),
    (S.PAYMENT_FAILED, S.CANCELLED),
    (S.PAID, S.CANCELLED),
    (S.ACCEPTED, S.CANCELLED),
    (S.READY, S.CANCELLED),
    (S.OUT_FOR_DELIVERY, S.CANCELLED),
    (S.CANCELLED, S.REFUNDED),
    # Not in the design: a refund without a cancellation (an admin's) ends the order too.
    *((status, S.REFUNDED) for status in S if status not in (S.CANCELLED, S.REFUNDED)),
}
EVERY_PAIR = list(itertools.product(S, S))
KITCHEN = [S.ACCEPTED, S.PREPARING, S.READY]
PAID = (S.PAID, S.ACCEPTED, S.PREPARING, S.READY, S.OUT_FOR_DELIVERY, S.DELIVERED)
# The events a move publishes: every move its own, and READY also order.ready (a rider is needed).
EVENTS_OF_READY = ["order.ready", "order.status_changed"]  # sorted


def test_the_table_is_the_design():
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert allowed == DESIGN
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(("from_status", "to_status"), EVERY_PAIR, ids=lambda s: s.value)
def test_order_transition_follows_the_table(from_status, to_status):
    order = OrderFactory(status=from_status)
    history = OrderStatusChange.objects.filter(order=order).count()

    if (from_status, to_status) in DESIGN:
        services.order_transition(
            order_id=order.id, to_status=to_status, by_user_id=None, reason="test"
        )
        order.refresh_from_db()
        assert order.status == to_status
        change = order.status_changes.last()
        assert (change.from_status, change.to_status, change.by_user_id, change.reason) == (
            from_status,
            to_status,
            None,
            "test",
        )
        if to_status == S.READY:
            assert sorted(e.type for e in OutboxEvent.objects.all()) == EVENTS_OF_READY
        else:
            assert OutboxEvent.objects.count() == 1
        event = OutboxEvent.objects.exclude(type="order.ready").get()
        if to_status == S.CANCELLED:
            assert event.type == "order.cancelled"
            assert event.data["was_paid"] is (from_status in PAID)
        else:
            assert event.type == "order.status_changed"
            assert (event.data["from_status"], event.data["to_status"]) == (from_status, to_status)
    else:
        with pytest.raises(InvalidTransition) as refused:
            services.order_transition(order_id=order.id, to_status=to_status)
        assert refused.value.extra == {"from_status": from_status, "to_status": to_status}
        order.refresh_from_db()
        assert order.status == from_status
        assert OrderStatusChange.objects.filter(order=order).count() == history
        assert not OutboxEvent.objects.exists()


def test_order_transition_of_an_unknown_order_is_not_found():
    with pytest.raises(OrderNotFound):
        services.order_transition(order_id=123456, to_status=S.PAID)


@pytest.mark.produces("order.status_changed")
def test_status_changed_event_data():
    order = OrderFactory(status=S.PAID)

    services.order_transition(order_id=order.id, to_status=S.ACCEPTED, by_user_id=OWNER)

    assert OutboxEvent.objects.get().data == {
        "order_id": order.id,
        "customer_id": CUSTOMER,
        "customer_email": f"user{CUSTOMER}@example.com",
        "restaurant_id": RESTAURANT,
        "restaurant_owner_id": OWNER,
        "from_status": "PAID",
        "to_status": "ACCEPTED",
    }


@pytest.mark.produces("order.ready")
def test_ready_publishes_where_to_pick_the_order_up_and_where_to_take_it(owner):
    order = OrderFactory(status=S.PREPARING, delivery_address="10 Home St")

    response = owner.post(f"/orders/{order.id}/status", {"status": "READY"}, format="json")

    assert response.status_code == 200, response.json()
    ready = OutboxEvent.objects.get(type="order.ready")
    assert ready.data == {
        "order_id": order.id,
        "customer_id": CUSTOMER,
        "customer_email": f"user{CUSTOMER}@example.com",
        "restaurant_id": RESTAURANT,
        "restaurant_owner_id": OWNER,
        "pickup": {"lat": PICKUP[0], "lon": PICKUP[1]},
        "dropoff": {"lat": DROPOFF[0], "lon": DROPOFF[1], "address": "10 Home St"},
    }


def test_ready_is_published_with_the_move_or_not_at_all(owner, monkeypatch):
    # The move to READY and its order.ready are one transaction: a failure after the move's
    # event leaves neither the move nor any event.
    order = OrderFactory(status=S.PREPARING)
    real_publish = transitions.publish

    def publish_then_fail(event_type, data):
        real_publish(event_type, data)
        if event_type == "order.ready":
            raise RuntimeError("the database went away mid-transaction")

    monkeypatch.setattr(transitions, "publish", publish_then_fail)

    with pytest.raises(RuntimeError):
        services.order_advance(order_id=order.id, to_status=S.READY, by_user_id=OWNER)

    order.refresh_from_db()
    assert order.status == S.PREPARING
    assert not OutboxEvent.objects.exists()


def test_an_order_placed_before_orders_had_positions_opens_no_delivery(owner):
    order = OrderFactory(
        status=S.PREPARING, delivery_lat=None, delivery_lon=None, pickup_lat=None, pickup_lon=None
    )

    response = owner.post(f"/orders/{order.id}/status", {"status": "READY"}, format="json")

    assert response.status_code == 200
    assert [e.type for e in OutboxEvent.objects.all()] == ["order.status_changed"]


# -- POST /orders/{id}/status ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("from_status", "to_status"), list(itertools.product(S, KITCHEN)), ids=lambda s: s.value
)
@pytest.mark.parametrize("actor", ["owner", "admin"])
def test_the_owner_and_admins_move_an_order_along_the_kitchen_steps(
    request, actor, from_status, to_status
):
    order = OrderFactory(status=from_status)
    client = request.getfixturevalue(actor)

    response = client.post(f"/orders/{order.id}/status", {"status": to_status}, format="json")

    if (from_status, to_status) in DESIGN:
        assert response.status_code == 200, response.json()
        body = response.json()
        assert body["status"] == to_status
        assert body["status_history"][-1]["from_status"] == from_status
        assert body["status_history"][-1]["to_status"] == to_status
        assert body["status_history"][-1]["by_user_id"] == (OWNER if actor == "owner" else ADMIN)
        assert sorted(e.type for e in OutboxEvent.objects.all()) == (
            EVENTS_OF_READY if to_status == S.READY else ["order.status_changed"]
        )
    else:
        assert response.status_code == 409
        assert response.json()["code"] == "invalid_transition"
        assert response.json()["from_status"] == from_status
        assert response.json()["to_status"] == to_status
        assert from_status in response.json()["detail"]
        assert not OutboxEvent.objects.exists()
        order.refresh_from_db()
        assert order.status == from_status


def test_the_kitchen_takes_an_order_to_ready(owner):
    order = OrderFactory(status=S.PAID)

    for step in KITCHEN:
        response = owner.post(f"/orders/{order.id}/status", {"status": step}, format="json")
        assert response.status_code == 200

    assert [h["to_status"] for h in response.json()["status_history"]] == [
        "PLACED",
        "PAID",
        *KITCHEN,
    ]
    assert OutboxEvent.objects.filter(type="order.status_changed").count() == 3
    assert OutboxEvent.objects.filter(type="order.ready").count() == 1


@pytest.mark.parametrize(
    "status",
    ["PAID", "OUT_FOR_DELIVERY", "DELIVERED", "CANCELLED", "REFUNDED", "PAYMENT_FAILED", "x", ""],
)
def test_the_status_endpoint_only_takes_kitchen_steps(owner, status):
    # DELIVERED too: the rider's delivery.delivered says so, no longer the owner
    order = OrderFactory(status=S.READY)

    response = owner.post(f"/orders/{order.id}/status", {"status": status}, format="json")

    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_a_customer_cannot_advance_an_order_even_their_own(customer, other_customer):
    order = OrderFactory(status=S.PAID)

    for client in (customer, other_customer):
        response = client.post(f"/orders/{order.id}/status", {"status": "ACCEPTED"}, format="json")
        assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == S.PAID


def test_another_restaurants_owner_gets_404(other_owner):
    order = OrderFactory(status=S.PAID)

    response = other_owner.post(f"/orders/{order.id}/status", {"status": "ACCEPTED"}, format="json")

    assert response.status_code == 404
    order.refresh_from_db()
    assert order.status == S.PAID


# -- POST /orders/{id}/cancel ------------------------------------------------------------------


# Who may cancel from where (the issue "Delivery": before pickup the rider is freed; after pickup
# only an admin), written out independently of orders.transitions.
BEFORE_PREPARING = (S.PLACED, S.PAYMENT_FAILED, S.PAID, S.ACCEPTED)
MAY_CANCEL = {
    "customer": BEFORE_PREPARING,
    "owner": (*BEFORE_PREPARING, S.READY),
    "admin": (*BEFORE_PREPARING, S.READY, S.OUT_FOR_DELIVERY),
}


@pytest.mark.parametrize("from_status", list(S), ids=lambda s: s.value)
@pytest.mark.parametrize("actor", ["customer", "owner", "admin"])
def test_who_may_cancel_from_which_status(request, actor, from_status):
    order = OrderFactory(status=from_status)
    client = request.getfixturevalue(actor)

    response = client.post(
        f"/orders/{order.id}/cancel", {"reason": "changed my mind"}, format="json"
    )

    if from_status in MAY_CANCEL[actor]:
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == "CANCELLED"
        last = response.json()["status_history"][-1]
        assert (last["from_status"], last["to_status"], last["reason"]) == (
            from_status,
            "CANCELLED",
            "changed my mind",
        )
        event = OutboxEvent.objects.get()
        assert event.type == "order.cancelled"
        assert event.data["was_paid"] is (from_status in PAID)
    else:
        assert response.status_code == 409
        assert response.json()["code"] == "invalid_transition"
        assert (response.json()["from_status"], response.json()["to_status"]) == (
            from_status,
            "CANCELLED",
        )
        assert not OutboxEvent.objects.exists()


@pytest.mark.produces("order.cancelled")
def test_cancelled_event_data(customer):
    order = OrderFactory(status=S.PAID)

    response = customer.post(f"/orders/{order.id}/cancel")

    assert response.status_code == 200
    assert OutboxEvent.objects.get().data == {
        "order_id": order.id,
        "customer_id": CUSTOMER,
        "customer_email": f"user{CUSTOMER}@example.com",
        "restaurant_id": RESTAURANT,
        "restaurant_owner_id": OWNER,
        "was_paid": True,
        "total": "19.00",
        "currency": "EUR",
        "reason": "",
    }


@pytest.mark.parametrize("stranger", ["other_customer", "other_owner"])
def test_strangers_cannot_cancel(request, stranger):
    order = OrderFactory()

    response = request.getfixturevalue(stranger).post(f"/orders/{order.id}/cancel")

    assert response.status_code == 404
    order.refresh_from_db()
    assert order.status == S.PLACED


def test_a_cancel_reason_is_at_most_500_characters(customer):
    order = OrderFactory()

    response = customer.post(f"/orders/{order.id}/cancel", {"reason": "x" * 501}, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()["errors"]


def test_writes_need_a_token(api_client):
    order = OrderFactory(status=S.PAID)
    assert api_client.post(f"/orders/{order.id}/cancel").status_code == 401
    assert api_client.post(f"/orders/{order.id}/status", {"status": "ACCEPTED"}).status_code == 401
