"""Events carry proof of origin: a message put on the broker by anyone but the producer is refused.

Flower's task API (`POST /flower/api/task/send-task/food.events.handle`) calls Celery's
`send_task` with the arguments it is given; so does anyone else who reaches the broker. These tests
do the same, with the relay's own routing (food_common.events.bus.relay), against the real workers.
"""

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from celery import Celery

from tests.client import order_body, wait_for
from tests.stack import EVENT_SIGNING_KEY
from tests.test_metrics import scrape, value

HANDLE_TASK = "food.events.handle"
QUEUES = ("orders", "notifications")  # payment.succeeded's consumers (contracts/asyncapi.yaml)


@pytest.fixture
def broker(stack, monkeypatch):
    """A Celery client of the stack's broker that is not one of its services (as Flower is)."""
    # Celery takes CELERY_BROKER_URL from the environment over its `broker` argument, and
    # `make test` on a machine without Redis exports one (bin/embedded.py): not the stack's.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    app = Celery("forger", broker=stack.env("orders")["CELERY_BROKER_URL"])
    yield app
    app.close()


def payment_succeeded(order: dict) -> dict:
    """Return a `payment.succeeded` envelope for `order` in the producer's exact shape, unsigned."""
    return {
        "id": str(uuid.uuid4()),
        "type": "payment.succeeded",
        "version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "producer": "payments",
        "request_id": f"forged-{uuid.uuid4().hex[:8]}",
        "data": {
            "payment_id": 990_000 + order["id"],
            "order_id": order["id"],
            "amount": order["total"],
            "currency": "EUR",
        },
    }


def signed_with(envelope: dict, key: str) -> dict:
    """Return `envelope` signed as the contract says: HMAC-SHA256 of its canonical JSON."""
    canonical = json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()
    return {**envelope, "signature": hmac.new(key.encode(), canonical, hashlib.sha256).hexdigest()}


def enqueue(broker: Celery, envelope: dict) -> None:
    """Put `envelope` on every subscribing queue, as the relay (and Flower's task API) does."""
    for queue in QUEUES:
        broker.send_task(HANDLE_TASK, args=[envelope, queue], queue=queue, retry=False)


def dead_letters(stack, event_ids: list[str]) -> list[tuple]:
    with psycopg.connect(stack.dsn("orders")) as conn:
        return conn.execute(
            "SELECT event_id::text, queue, handler, error FROM events_deadletter"
            " WHERE event_id = ANY(%s::uuid[]) ORDER BY event_id, queue",
            [event_ids],
        ).fetchall()


def place(api, menu, customer) -> dict:
    reply = api.post("/orders", order_body(menu, quantity=1), token=customer["access"])
    assert reply.status == 201, reply
    assert reply.json()["status"] == "PLACED"
    return reply.json()


def status_of(api, customer, order: dict) -> str:
    reply = api.get(f"/orders/{order['id']}", token=customer["access"])
    assert reply.status == 200, reply
    return reply.json()["status"]


def test_a_payment_succeeded_forged_through_the_broker_leaves_the_order_unpaid(
    api, stack, menu, customer, broker
):
    # Given an unpaid order
    order = place(api, menu, customer)
    metrics_url = f"{stack.url('orders')}/metrics"
    rejected_before = value(
        scrape(metrics_url), "food_events_rejected_total", type="payment.succeeded"
    )

    # When its payment.succeeded is enqueued unsigned, and signed with a guessed key
    unsigned = payment_succeeded(order)
    guessed = signed_with(payment_succeeded(order), "guessed-event-signing-key")
    enqueue(broker, unsigned)
    enqueue(broker, guessed)

    # Then both workers reject both, each into a dead letter an operator sees in the admin
    ids = sorted([unsigned["id"], guessed["id"]])
    letters = wait_for(
        lambda: len(found := dead_letters(stack, ids)) == 4 and found,
        message="the forged events' dead letters",
    )
    rejected = "(rejected: not signed by its producer)"
    assert sorted((event_id, queue, handler) for event_id, queue, handler, _ in letters) == [
        (event_id, queue, rejected) for event_id in ids for queue in sorted(QUEUES)
    ]
    errors = {event_id: error for event_id, _, _, error in letters}
    assert errors[unsigned["id"]] == "no signature"
    assert errors[guessed["id"]].startswith("bad signature")
    # ...and the order is still unpaid, with no "paid" notification
    time.sleep(1)
    assert status_of(api, customer, order) == "PLACED"
    paid_notes = [
        n
        for n in api.get("/notifications", token=customer["access"]).json()["results"]
        if n["event_type"] == "payment.succeeded"
    ]
    assert paid_notes == []
    # ...and the rejections are counted
    rejected_after = value(
        scrape(metrics_url), "food_events_rejected_total", type="payment.succeeded"
    )
    assert rejected_after == rejected_before + 4


def test_the_same_message_signed_with_the_deployment_key_pays_the_order(
    api, stack, menu, customer, broker
):
    """The control: the forgery above fails only for want of the key, not for its shape."""
    order = place(api, menu, customer)
    envelope = signed_with(payment_succeeded(order), EVENT_SIGNING_KEY)
    enqueue(broker, envelope)
    wait_for(lambda: status_of(api, customer, order) == "PAID", message="the signed event to apply")
    assert dead_letters(stack, [envelope["id"]]) == []
