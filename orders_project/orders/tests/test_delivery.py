"""The delivery service's events, delivered through the real event dispatch, record an order's
delivery and move it READY → OUT_FOR_DELIVERY → DELIVERED; its detail shows the rider and where
they are (read from the delivery service, or nothing when it does not answer)."""

from datetime import UTC, datetime

import pytest

from food_common import testing
from food_common.events.bus import dispatch
from food_common.events.models import OutboxEvent
from food_common.http import UpstreamBadAnswer, UpstreamError
from orders.clients import RiderPosition
from orders.models import Order, OrderStatus
from orders.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

DELIVERY = 41
RIDER = {"id": 5, "user_id": 501, "name": "Rita", "vehicle_type": "scooter"}
WHEN = "2026-01-02T12:00:00+00:00"
STEP_TIME = {
    "delivery.assigned": "assigned_at",
    "delivery.picked_up": "picked_up_at",
    "delivery.delivered": "delivered_at",
}


def envelope(event_type: str, order: Order, **data) -> dict:
    """Return delivery DELIVERY's `event_type` about `order`, as the contract says it is sent."""
    payload = {
        "delivery_id": DELIVERY,
        "order_id": order.pk,
        "customer_id": order.customer_id,
        "customer_email": order.customer_email,
        "restaurant_id": order.restaurant_id,
        "restaurant_owner_id": order.restaurant_owner_id,
    }
    if event_type in STEP_TIME:
        payload |= {"rider": RIDER, STEP_TIME[event_type]: WHEN}
        if event_type == "delivery.assigned":
            payload["offer_withdrawn_from"] = None
    elif event_type == "delivery.unassigned":
        payload |= {"searched_seconds": 300, "radius_km": 15.0}
    elif event_type == "delivery.cancelled":
        payload |= {
            "rider": RIDER,
            "offered_to": None,
            "was_picked_up": False,
            "reason": "",
            "cancelled_at": WHEN,
        }
    return testing.envelope(event_type, payload | data)


def handle(event_type: str, order: Order, **data) -> Order:
    assert dispatch(envelope(event_type, order, **data), "orders") == []
    order.refresh_from_db()
    return order


def history(order: Order) -> list[tuple[str, str, str]]:
    return [(c.from_status, c.to_status, c.reason) for c in order.status_changes.all()][2:]


@pytest.mark.consumes("delivery.assigned")
def test_assigned_records_the_delivery_and_its_rider_and_the_order_stays_ready(customer, delivery):
    order = OrderFactory(status=OrderStatus.READY)
    event = envelope("delivery.assigned", order)

    assert dispatch(event, "orders") == []
    assert dispatch(event, "orders") == []  # delivered twice: handled once

    order.refresh_from_db()
    assert (order.status, order.delivery_id, order.delivery_progress) == ("READY", 41, "ASSIGNED")
    assert (order.rider_name, order.rider_vehicle_type) == ("Rita", "scooter")
    assert not OutboxEvent.objects.exists()  # no move, nothing to tell
    delivery.positions[DELIVERY] = RiderPosition(
        lat=52.52, lon=13.41, at=datetime(2026, 1, 2, 12, 0, 5, tzinfo=UTC)
    )
    body = customer.get(f"/orders/{order.id}").json()
    assert body["delivery"] == {
        "id": DELIVERY,
        "status": "ASSIGNED",
        "rider": {"name": "Rita", "vehicle_type": "scooter"},
        "position": {"lat": 52.52, "lon": 13.41, "at": "2026-01-02T12:00:05Z"},
    }
    # asked with the caller's own token: the delivery service decides who sees the rider
    token = customer._credentials["HTTP_AUTHORIZATION"].split()[1]
    assert delivery.calls == [{"delivery_id": DELIVERY, "token": token}]


@pytest.mark.consumes("delivery.picked_up")
def test_picked_up_moves_the_order_out_for_delivery(owner):
    order = OrderFactory(status=OrderStatus.READY)
    handle("delivery.assigned", order)

    order = handle("delivery.picked_up", order)

    assert (order.status, order.delivery_progress) == ("OUT_FOR_DELIVERY", "PICKED_UP")
    assert history(order) == [("READY", "OUT_FOR_DELIVERY", "delivery 41 picked up by Rita")]
    event = OutboxEvent.objects.get()
    assert (event.type, event.data["to_status"]) == ("order.status_changed", "OUT_FOR_DELIVERY")
    # from now on its owner can no longer cancel it
    assert owner.post(f"/orders/{order.id}/cancel").status_code == 409


@pytest.mark.consumes("delivery.delivered")
def test_delivered_ends_the_order(customer):
    order = OrderFactory(status=OrderStatus.OUT_FOR_DELIVERY)

    order = handle("delivery.delivered", order)

    assert (order.status, order.delivery_progress) == ("DELIVERED", "DELIVERED")
    assert history(order) == [("OUT_FOR_DELIVERY", "DELIVERED", "delivery 41 delivered")]
    event = OutboxEvent.objects.get()
    assert (event.type, event.data["to_status"]) == ("order.status_changed", "DELIVERED")
    body = customer.get(f"/orders/{order.id}").json()
    assert body["delivery"]["status"] == "DELIVERED"
    assert body["delivery"]["position"] is None  # the rider is no longer shown


def test_a_delivered_that_overtakes_its_pickup_makes_both_moves_and_the_pickup_nothing():
    order = OrderFactory(status=OrderStatus.READY)

    handle("delivery.delivered", order)
    order = handle("delivery.picked_up", order)  # arrives late

    assert (order.status, order.delivery_progress) == ("DELIVERED", "DELIVERED")
    assert [(a, b) for a, b, _ in history(order)] == [
        ("READY", "OUT_FOR_DELIVERY"),
        ("OUT_FOR_DELIVERY", "DELIVERED"),
    ]
    assert OutboxEvent.objects.filter(type="order.status_changed").count() == 2


@pytest.mark.consumes("delivery.unassigned", "delivery.assigned")
def test_unassigned_is_recorded_the_order_stays_ready_and_an_admins_assignment_follows(customer):
    order = OrderFactory(status=OrderStatus.READY)

    order = handle("delivery.unassigned", order)

    assert (order.status, order.delivery_id, order.delivery_progress) == (
        "READY",
        DELIVERY,
        "UNASSIGNED",
    )
    assert not OutboxEvent.objects.exists()
    body = customer.get(f"/orders/{order.id}").json()
    assert body["delivery"] == {
        "id": DELIVERY,
        "status": "UNASSIGNED",
        "rider": None,
        "position": None,
    }

    # an admin assigns a rider by hand in the delivery service
    order = handle("delivery.assigned", order)
    assert (order.delivery_progress, order.rider_name) == ("ASSIGNED", "Rita")
    # and a late copy of the first news changes nothing
    order = handle("delivery.unassigned", order)
    assert order.delivery_progress == "ASSIGNED"


@pytest.mark.consumes("delivery.cancelled")
def test_cancelled_is_recorded_and_no_rider_is_looked_for(customer, delivery):
    order = OrderFactory(status=OrderStatus.READY)
    handle("delivery.assigned", order)
    order.status = OrderStatus.CANCELLED  # its owner cancelled it: order.cancelled went out
    order.save(update_fields=["status"])

    order = handle("delivery.cancelled", order)

    assert (order.status, order.delivery_progress) == ("CANCELLED", "CANCELLED")
    body = customer.get(f"/orders/{order.id}").json()
    assert body["delivery"]["status"] == "CANCELLED" and body["delivery"]["position"] is None
    assert delivery.calls == []


@pytest.mark.parametrize("status", [OrderStatus.CANCELLED, OrderStatus.REFUNDED])
def test_a_pickup_of_an_order_that_has_ended_only_records_it(status):
    order = OrderFactory(status=status)

    order = handle("delivery.picked_up", order)

    assert (order.status, order.delivery_progress) == (status, "PICKED_UP")
    assert not OutboxEvent.objects.exists()


def test_an_event_for_an_unknown_order_fails_so_it_is_retried_then_dead_lettered():
    order = OrderFactory()
    event = envelope("delivery.assigned", order, order_id=999999)

    failures = dispatch(event, "orders")

    assert len(failures) == 1 and "OrderNotFound" in failures[0][1]


@pytest.mark.parametrize(
    "error", [UpstreamError("delivery", "timeout", "slow"), UpstreamBadAnswer("HTTP 404")]
)
def test_the_order_is_read_all_the_same_when_the_delivery_service_does_not_answer(
    customer, delivery, error
):
    order = OrderFactory(status=OrderStatus.READY)
    handle("delivery.assigned", order)
    delivery.error = error

    response = customer.get(f"/orders/{order.id}")

    assert response.status_code == 200
    assert response.json()["delivery"] == {
        "id": DELIVERY,
        "status": "ASSIGNED",
        "rider": {"name": "Rita", "vehicle_type": "scooter"},
        "position": None,
    }


@pytest.mark.parametrize("reader", ["customer", "owner", "admin"])
def test_whoever_sees_the_order_sees_its_rider(request, reader, delivery):
    order = OrderFactory(status=OrderStatus.READY)
    handle("delivery.assigned", order)
    delivery.positions[DELIVERY] = RiderPosition(
        lat=52.5, lon=13.4, at=datetime(2026, 1, 2, tzinfo=UTC)
    )

    body = request.getfixturevalue(reader).get(f"/orders/{order.id}").json()

    assert body["delivery"]["rider"]["name"] == "Rita"
    assert body["delivery"]["position"]["lat"] == 52.5


@pytest.mark.parametrize("reader", ["other_customer", "other_owner"])
def test_nobody_else_sees_the_rider(request, reader, delivery):
    order = OrderFactory(status=OrderStatus.READY)
    handle("delivery.assigned", order)

    assert request.getfixturevalue(reader).get(f"/orders/{order.id}").status_code == 404
    assert delivery.calls == []


def test_the_whole_last_mile_in_the_orders_history(customer):
    order = OrderFactory(status=OrderStatus.READY)

    for event_type in ("delivery.assigned", "delivery.picked_up", "delivery.delivered"):
        handle(event_type, order)

    body = customer.get(f"/orders/{order.id}").json()
    assert body["status"] == "DELIVERED"
    assert [h["to_status"] for h in body["status_history"]][-3:] == [
        "READY",
        "OUT_FOR_DELIVERY",
        "DELIVERED",
    ]
