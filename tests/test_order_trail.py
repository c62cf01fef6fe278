"""An order's trail through the gateway: one order's story across orders, payments and delivery,
as staff get it (GET /orders/{id}/trail) and see it (the order's page in the orders admin)."""

import uuid
from datetime import datetime

import psycopg
import pytest

from tests.client import PASSWORD, wait_for
from tests.test_payments_flow import GOOD, AdminSession, logged_in_admin

# What the contract (contracts/asyncapi.yaml) says consumes each event of the story: queue ->
# the handlers of that queue that act on it.
CONSUMERS = {
    "order.created": {"notifications": ["notifications.handlers.notify_customer"]},
    "payment.succeeded": {
        "orders": ["orders.handlers.on_payment_succeeded"],
        "notifications": ["notifications.handlers.notify_customer"],
    },
    "order.cancelled": {
        "payments": ["payments.handlers.refund_cancelled_order"],
        "notifications": ["notifications.handlers.notify_customer"],
        "delivery": ["delivery.handlers.cancel_delivery"],
    },
    "payment.refunded": {
        "orders": ["orders.handlers.on_payment_refunded"],
        "notifications": ["notifications.handlers.notify_customer"],
    },
}


@pytest.fixture(scope="module")
def staff(api, stack) -> dict:
    """A user promoted to admin in auth's database (admins are never self-made), logged in."""
    email = f"trail-admin-{uuid.uuid4().hex[:8]}@example.com"
    api.register_and_login(email)
    with psycopg.connect(stack.dsn("auth"), autocommit=True) as conn:
        conn.execute("UPDATE accounts_user SET role = 'admin' WHERE email = %s", [email])
    reply = api.post("/auth/login", {"email": email, "password": PASSWORD})
    assert reply.status == 200, reply
    return reply.json()


@pytest.fixture(scope="module")
def orders_admin(stack) -> AdminSession:
    return logged_in_admin(stack, "orders", "trail-admin")


@pytest.fixture
def refunded_order(api, customer) -> dict:
    """An order placed, paid, then cancelled and refunded, each request with its own request id."""
    owner = api.register_and_login(
        f"trail-owner-{uuid.uuid4().hex[:8]}@example.com", "restaurant_owner"
    )
    restaurant = api.post(
        "/restaurants",
        {"name": "Trail Taverna", "cuisine": "greek", "address": "1 Quay", "lat": 40.0,
         "lon": 20.0, "is_open": True},
        token=owner["access"],
    ).json()  # fmt: skip
    dish = api.post(
        f"/restaurants/{restaurant['id']}/menu",
        {"name": "Gyros", "category": "main", "price": "9.00", "currency": "EUR"},
        token=owner["access"],
    ).json()
    ids = {step: f"trail-{step}-{uuid.uuid4().hex[:12]}" for step in ("place", "pay", "cancel")}
    reply = api.post(
        "/orders",
        {"restaurant_id": restaurant["id"], "items": [{"menu_item_id": dish["id"], "quantity": 2}],
         "delivery_address": "2 Hill St", "delivery_lat": 40.01, "delivery_lon": 20.0},
        token=customer["access"],
        headers={"X-Request-ID": ids["place"]},
    )  # fmt: skip
    assert reply.status == 201, reply
    order = reply.json()
    reply = api.post(
        "/payments",
        {"order_id": order["id"], "card_number": GOOD},
        token=customer["access"],
        headers={"Idempotency-Key": uuid.uuid4().hex, "X-Request-ID": ids["pay"]},
    )
    assert reply.status == 201, reply
    wait_for(
        lambda: (
            api.get(f"/orders/{order['id']}", token=customer["access"]).json()["status"] == "PAID"
        ),
        message="the order to be PAID",
    )
    reply = api.post(
        f"/orders/{order['id']}/cancel",
        {"reason": "changed my mind"},
        token=customer["access"],
        headers={"X-Request-ID": ids["cancel"]},
    )
    assert reply.status == 200, reply
    return {"order": order, "owner": owner, "restaurant": restaurant, "request_ids": ids}


def settled_trail(api, staff, order_id: int) -> dict:
    """The order's trail once nothing is left to do (every event sent and handled, every
    notification sent, every part present)."""

    def trail():
        reply = api.get(f"/orders/{order_id}/trail", token=staff["access"])
        assert reply.status == 200, reply
        body = reply.json()
        return not body["problems"] and body

    return wait_for(trail, timeout=40, message=f"order {order_id}'s trail to settle")


def test_the_trail_of_a_placed_paid_cancelled_and_refunded_order_lists_its_events_and_consumers(
    api, staff, refunded_order
):
    order_id = refunded_order["order"]["id"]
    ids = refunded_order["request_ids"]

    trail = settled_trail(api, staff, order_id)

    # Every event of every service about the order, in the order they happened
    assert [(e["type"], e["service"]) for e in trail["events"]] == [
        ("order.created", "orders"),
        ("payment.succeeded", "payments"),
        ("order.status_changed", "orders"),  # → PAID
        ("order.cancelled", "orders"),
        ("payment.refunded", "payments"),
        ("order.status_changed", "orders"),  # → REFUNDED
    ]
    # ...each under the request that caused it: the refund under the cancellation's
    assert [e["request_id"] for e in trail["events"]] == [
        ids["place"],
        ids["pay"],
        ids["pay"],
        ids["cancel"],
        ids["cancel"],
        ids["cancel"],
    ]
    # ...each handled by every consumer the contract lists, across orders, payments, delivery
    for event in trail["events"]:
        if event["type"] not in CONSUMERS:
            continue
        consumers = {
            c["queue"]: (c["state"], [h["handler"] for h in c["handled"]])
            for c in event["consumers"]
        }
        expected = {q: ("handled", handlers) for q, handlers in CONSUMERS[event["type"]].items()}
        assert consumers == expected, event["type"]
    assert all(e["sent_at"] and e["send_attempts"] >= 1 for e in trail["events"])
    services = {h["service"] for e in trail["events"] for c in e["consumers"] for h in c["handled"]}
    assert services == {"orders", "payments", "delivery"}
    # The records of each service: the history, the payment and its refund, the notifications
    assert [s["to_status"] for s in trail["status_history"]] == [
        "PLACED",
        "PAID",
        "CANCELLED",
        "REFUNDED",
    ]
    (payment,) = trail["payments"]
    assert payment["status"] == "REFUNDED" and payment["amount"] == "18.00"
    assert [r["reason"] for r in payment["refunds"]] == ["order_cancelled"]
    assert payment["url"] == f"/admin/payments/payments/payment/{payment['id']}/change/"
    assert trail["delivery"] is None  # cancelled before it was ready
    assert {n["event_type"] for n in trail["notifications"]} >= set(CONSUMERS)
    assert all(n["status"] == "SENT" for n in trail["notifications"])
    assert [r["request_id"] for r in trail["requests"]] == [ids["place"], ids["pay"], ids["cancel"]]
    times = [datetime.fromisoformat(row["at"]) for row in trail["timeline"]]
    assert times == sorted(times) and len(times) > len(trail["events"])
    assert trail["unavailable"] == {}


def test_only_staff_get_a_trail_and_the_parts_are_not_public(api, staff, customer, refunded_order):
    order_id = refunded_order["order"]["id"]

    assert api.get(f"/orders/{order_id}/trail", token=customer["access"]).status == 403
    owner = refunded_order["owner"]
    assert api.get(f"/orders/{order_id}/trail", token=owner["access"]).status == 403
    assert api.get(f"/orders/{order_id}/trail").status == 401
    assert api.get(f"/orders/{order_id + 10**6}/trail", token=staff["access"]).status == 404
    # The services' own parts are on an internal path the gateway never forwards
    internal = api.get(f"/internal/orders/{order_id}/trail", token=staff["access"])
    assert internal.status == 404, internal


def test_the_order_s_admin_page_shows_its_trail(api, staff, orders_admin, refunded_order):
    order_id = refunded_order["order"]["id"]
    trail = settled_trail(api, staff, order_id)

    page = orders_admin.request("GET", f"/orders/order/{order_id}/change/")

    assert page.status == 200, page.data[:500]
    content = page.data.decode()
    assert "Food · orders" in content
    assert "Nothing looks stuck" in content
    for expected in (
        'id="trail-timeline"',
        "payment.refunded",
        "payments.handlers.refund_cancelled_order",
        trail["payments"][0]["url"],
        f"/admin/catalog/catalog/restaurant/{refunded_order['restaurant']['id']}/change/",
        trail["events"][0]["consumers"][0]["flower_url"],
        refunded_order["request_ids"]["cancel"],
    ):
        assert expected in content, expected
