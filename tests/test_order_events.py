"""Orders and notifications over the event bus, with real workers, beat, Redis and PostgreSQL."""

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.client import order_body, wait_for, waits_on_lock


def notifications_for(api, customer, order_id: int, event_type: str = "order.created") -> list:
    reply = api.get("/notifications", token=customer["access"])
    assert reply.status == 200, reply
    return [
        n
        for n in reply.json()["results"]
        if n["event_type"] == event_type and re.search(rf"#{order_id}\b", n["subject"] + n["body"])
    ]


def test_placed_order_gets_exactly_one_confirmation_and_email(api, stack, menu, customer):
    reply = api.post("/orders", order_body(menu), token=customer["access"])
    assert reply.status == 201, reply
    order = reply.json()
    assert order["status"] == "PLACED"
    assert order["total"] == "33.00"  # 2 × 12.50 + 8.00, priced by the catalog

    found = wait_for(
        lambda: notifications_for(api, customer, order["id"]), message="the notification"
    )
    time.sleep(1)  # a duplicate would show up by now
    assert len(notifications_for(api, customer, order["id"])) == 1 == len(found)
    wait_for(lambda: customer["email"] in stack.sent_mail(), message="the email")


def test_notification_survives_worker_killed_mid_event_exactly_once(api, stack, menu, customer):
    # Given the notifications table locked, so the handler blocks in the middle of its work
    worker = stack.worker("notifications")
    with (
        psycopg.connect(stack.dsn("orders")) as conn,
        psycopg.connect(stack.dsn("orders"), autocommit=True) as watcher,
    ):
        conn.execute("LOCK TABLE notifications_notification IN EXCLUSIVE MODE")
        reply = api.post("/orders", order_body(menu, quantity=1), token=customer["access"])
        assert reply.status == 201, reply
        order_id = reply.json()["id"]
        # ...and the worker has taken the event and is blocked in the handler, on that lock
        wait_for(
            lambda: waits_on_lock(watcher, "notifications_notification"),
            timeout=15,
            message="the worker to block in the handler",
        )
        # When the worker is killed mid-task
        worker.kill()
        conn.rollback()
    # Then a new worker gets the message again (visibility timeout) and handles it exactly once
    stack.start_worker("notifications")
    wait_for(lambda: notifications_for(api, customer, order_id), timeout=40, message="redelivery")
    time.sleep(2)
    assert len(notifications_for(api, customer, order_id)) == 1
    wait_for(lambda: stack.sent_mail().count(f"#{order_id} ") >= 1, message="the email")


def test_order_placed_while_redis_is_down_is_notified_once_redis_returns(
    api, stack, menu, customer
):
    stack.redis.stop()
    try:
        reply = api.post("/orders", order_body(menu, quantity=3), token=customer["access"])
        assert reply.status == 201, (
            reply
        )  # the order is in the database; its event waits in the outbox
        order_id = reply.json()["id"]
        assert api.get(f"/orders/{order_id}", token=customer["access"]).status == 200
    finally:
        stack.start_redis()
    # The sweep sends the event once the broker is back, and the notification arrives.
    wait_for(
        lambda: notifications_for(api, customer, order_id), timeout=60, message="the swept event"
    )
    assert len(notifications_for(api, customer, order_id)) == 1


@pytest.fixture
def catalog_down(stack):
    for copy in range(2):
        stack.server("catalog", copy).kill()
    yield
    for copy in range(2):
        stack.start_server("catalog", copy)


def test_catalog_down_means_503_and_no_order(api, menu, customer, catalog_down):
    before = api.get("/orders", token=customer["access"]).json()["count"]
    reply = api.post("/orders", order_body(menu), token=customer["access"])
    assert reply.status == 503, reply
    assert reply.json()["code"] and reply.json()["detail"]
    assert api.get("/orders", token=customer["access"]).json()["count"] == before


def test_ten_concurrent_requests_with_one_idempotency_key_make_one_order(api, menu, customer):
    key = uuid.uuid4().hex
    with ThreadPoolExecutor(max_workers=10) as pool:
        replies = list(
            pool.map(
                lambda _: api.post(
                    "/orders",
                    order_body(menu),
                    token=customer["access"],
                    headers={"Idempotency-Key": key},
                ),
                range(10),
            )
        )
    assert all(r.status in (200, 201) for r in replies), replies
    assert len({r.json()["id"] for r in replies}) == 1
    order_id = replies[0].json()["id"]
    other = api.post(
        "/orders",
        order_body(menu, quantity=5),
        token=customer["access"],
        headers={"Idempotency-Key": key},
    )
    assert other.status == 422, other
    wait_for(lambda: notifications_for(api, customer, order_id), message="the notification")
    time.sleep(1)
    assert len(notifications_for(api, customer, order_id)) == 1


def test_orders_are_private_and_only_the_owner_advances_them(api, menu, customer):
    order = api.post("/orders", order_body(menu), token=customer["access"]).json()
    stranger = api.register_and_login(f"other-{uuid.uuid4().hex[:8]}@example.com")
    other_owner = api.register_and_login(
        f"owner2-{uuid.uuid4().hex[:8]}@example.com", role="restaurant_owner"
    )

    assert api.get(f"/orders/{order['id']}", token=stranger["access"]).status == 404
    assert api.post(
        f"/orders/{order['id']}/status", {"status": "ACCEPTED"}, token=stranger["access"]
    ).status in (403, 404)
    assert order["id"] not in [
        o["id"] for o in api.get("/orders", token=other_owner["access"]).json()["results"]
    ]
    assert order["id"] in [
        o["id"] for o in api.get("/orders", token=menu["owner"]["access"]).json()["results"]
    ]

    # PLACED → ACCEPTED skips payment: refused with 409.
    refused = api.post(
        f"/orders/{order['id']}/status", {"status": "ACCEPTED"}, token=menu["owner"]["access"]
    )
    assert refused.status == 409, refused
    cancelled = api.post(f"/orders/{order['id']}/cancel", {}, token=customer["access"])
    assert cancelled.status == 200 and cancelled.json()["status"] == "CANCELLED", cancelled
    history = api.get(f"/orders/{order['id']}", token=customer["access"]).json()["status_history"]
    assert [h["to_status"] for h in history][-1] == "CANCELLED"
