"""Payments end to end: the paid / failed / cancel-refund saga across real services and workers."""

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import redis

from tests.client import order_body, wait_for, waits_on_lock

GOOD, DECLINED, TIMES_OUT = "4242424242424242", "4000000000000002", "4000000000000119"


def pay(api, customer, order_id, card=GOOD, key=None):
    return api.post(
        "/payments",
        {"order_id": order_id, "card_number": card},
        token=customer["access"],
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
    )


def order_of(api, customer, order_id) -> dict:
    return api.get(f"/orders/{order_id}", token=customer["access"]).json()


def wait_status(api, customer, order_id, status, timeout=20) -> dict:
    return wait_for(
        lambda: (o := order_of(api, customer, order_id))["status"] == status and o,
        timeout=timeout,
        message=f"order {order_id} to be {status}",
    )


def event_types(api, customer, order_id) -> list[str]:
    results = api.get("/notifications", token=customer["access"]).json()["results"]
    return sorted(
        n["event_type"] for n in results if re.search(rf"#{order_id}\b", n["subject"] + n["body"])
    )


def provider_keys(stack, kind: str) -> int:
    client = redis.Redis(port=stack.redis_port, db=1)
    return sum(1 for _ in client.scan_iter(f"*mock-provider:{kind}:*"))


def place(api, customer, menu) -> dict:
    reply = api.post("/orders", order_body(menu), token=customer["access"])
    assert reply.status == 201, reply
    return reply.json()


def test_happy_path_order_paid_with_two_notifications(api, menu, customer):
    order = place(api, customer, menu)
    reply = pay(api, customer, order["id"])
    assert reply.status == 201, reply
    assert reply.json()["status"] == "SUCCEEDED" and reply.json()["amount"] == order["total"]
    wait_status(api, customer, order["id"], "PAID")
    wait_for(
        lambda: event_types(api, customer, order["id"]) == ["order.created", "payment.succeeded"],
        message="the two notifications",
    )


def test_declined_card_then_good_card(api, menu, customer):
    order = place(api, customer, menu)
    declined = pay(api, customer, order["id"], card=DECLINED)
    assert declined.status == 402, declined
    assert (
        declined.json()["status"] == "FAILED"
        and declined.json()["failure_reason"] == "card_declined"
    )
    wait_status(api, customer, order["id"], "PAYMENT_FAILED")
    wait_for(
        lambda: "payment.failed" in event_types(api, customer, order["id"]),
        message="failure notice",
    )
    assert pay(api, customer, order["id"]).status == 201
    wait_status(api, customer, order["id"], "PAID")


def test_twenty_concurrent_payments_charge_once(api, stack, menu, customer):
    order = place(api, customer, menu)
    charges_before = provider_keys(stack, "charge")
    with ThreadPoolExecutor(max_workers=20) as pool:
        replies = list(pool.map(lambda _: pay(api, customer, order["id"]), range(20)))
    statuses = sorted(r.status for r in replies)
    assert statuses.count(201) == 1 and statuses.count(409) == 19, statuses
    assert provider_keys(stack, "charge") == charges_before + 1
    payments = api.get(f"/payments?order_id={order['id']}", token=customer["access"]).json()[
        "results"
    ]
    assert [p["status"] for p in payments] == ["SUCCEEDED"]


def test_idempotent_retry_and_reused_key(api, stack, menu, customer):
    order = place(api, customer, menu)
    key = uuid.uuid4().hex
    first = pay(api, customer, order["id"], key=key)
    assert first.status == 201, first
    charges = provider_keys(stack, "charge")
    again = pay(api, customer, order["id"], key=key)
    assert (again.status, again.json()) == (first.status, first.json())
    assert provider_keys(stack, "charge") == charges
    other = pay(api, customer, order["id"], card="5555555555554444", key=key)
    assert other.status == 422 and other.json()["code"] == "idempotency_key_reused", other


def test_cancelling_a_paid_order_refunds_it_once(api, stack, menu, customer):
    order = place(api, customer, menu)
    payment = pay(api, customer, order["id"]).json()
    wait_status(api, customer, order["id"], "PAID")
    refunds_before = provider_keys(stack, "refund-idem")
    cancelled = api.post(f"/orders/{order['id']}/cancel", {}, token=customer["access"])
    assert cancelled.status == 200 and cancelled.json()["refund_pending"] is True, cancelled
    assert api.post(f"/orders/{order['id']}/cancel", {}, token=customer["access"]).status == 409
    refunded = wait_status(api, customer, order["id"], "REFUNDED")
    assert refunded["refund_pending"] is False
    assert [h["to_status"] for h in refunded["status_history"]][-2:] == ["CANCELLED", "REFUNDED"]
    paid = api.get(f"/payments/{payment['id']}", token=customer["access"]).json()
    assert paid["status"] == "REFUNDED" and len(paid["refunds"]) == 1
    assert provider_keys(stack, "refund-idem") == refunds_before + 1
    wait_for(
        lambda: "payment.refunded" in event_types(api, customer, order["id"]),
        message="refund notice",
    )


def test_provider_timeout_gives_a_clear_answer_and_a_final_state(api, menu, customer):
    order = place(api, customer, menu)
    reply = pay(api, customer, order["id"], card=TIMES_OUT)
    assert reply.status == 504 and reply.json()["code"] == "provider_timeout", reply
    payments = api.get(f"/payments?order_id={order['id']}", token=customer["access"]).json()[
        "results"
    ]
    assert [(p["status"], p["failure_reason"]) for p in payments] == [
        ("FAILED", "provider_timeout")
    ]
    wait_status(api, customer, order["id"], "PAYMENT_FAILED")


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({"order_id": 999999, "card_number": GOOD}, None, 404),
        ({"order_id": 1, "card_number": "4242abcd"}, None, 400),
        ({"order_id": -3, "card_number": GOOD}, None, 400),
        ({"order_id": "twelve", "card_number": GOOD}, None, 400),
        ({"order_id": 1, "card_number": GOOD}, {}, 400),
    ],
    ids=["unknown-order", "malformed-card", "negative-id", "string-id", "missing-key"],
)
def test_bad_payment_input_is_4xx_json(api, customer, body, headers, status):
    send = {"Idempotency-Key": uuid.uuid4().hex} if headers is None else headers
    reply = api.post("/payments", body, token=customer["access"], headers=send)
    assert reply.status == status, reply
    assert reply.json()["code"] and reply.json()["detail"]


def test_orders_catch_up_after_their_worker_was_stopped(api, stack, menu, customer):
    # Given the orders worker stopped while payments go on
    stack.worker("orders").stop()
    try:
        orders = [place(api, customer, menu) for _ in range(3)]
        for order in orders:
            assert pay(api, customer, order["id"]).status == 201
        time.sleep(2)
        assert {order_of(api, customer, o["id"])["status"] for o in orders} == {"PLACED"}
    finally:
        stack.start_worker("orders")
    # Then every order reaches the state its payment says, once
    for order in orders:
        paid = wait_status(api, customer, order["id"], "PAID", timeout=30)
        assert [h["to_status"] for h in paid["status_history"]].count("PAID") == 1


def test_refund_survives_payments_worker_killed_mid_event(api, stack, menu, customer):
    order = place(api, customer, menu)
    payment = pay(api, customer, order["id"]).json()
    wait_status(api, customer, order["id"], "PAID")
    worker = stack.worker("payments")
    dsn = stack.dsn("payments")
    with psycopg.connect(dsn) as conn, psycopg.connect(dsn, autocommit=True) as watcher:
        # Given the refund table locked, so the refund handler blocks mid-task
        conn.execute("LOCK TABLE payments_refund IN EXCLUSIVE MODE")
        assert api.post(f"/orders/{order['id']}/cancel", {}, token=customer["access"]).status == 200
        wait_for(
            lambda: waits_on_lock(watcher, "payments_refund"),
            timeout=15,
            message="the payments worker to block in the refund handler",
        )
        worker.kill()  # when the worker dies mid-event
        conn.rollback()
    stack.start_worker("payments")
    # Then the refund happens exactly once and the order ends REFUNDED
    wait_status(api, customer, order["id"], "REFUNDED", timeout=45)
    refunded = api.get(f"/payments/{payment['id']}", token=customer["access"]).json()
    assert refunded["status"] == "REFUNDED" and len(refunded["refunds"]) == 1
