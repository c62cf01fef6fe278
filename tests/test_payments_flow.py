"""Payments end to end: the paid / failed / cancel-refund saga across real services and workers."""

import html
import re
import secrets
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import psycopg
import pytest
import urllib3

from tests.client import order_body, wait_for, waits_on_lock
from tests.stack import ROOT, VENV_BIN

GOOD, DECLINED, TIMES_OUT = "4242424242424242", "4000000000000002", "4000000000000119"
NO_FUNDS = "4000000000009995"


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


def provider_records(stack, kind: str) -> int:
    """Return how many charges or refunds the mock provider made (its own tables, not Redis)."""
    table = {"charge": "payments_mockprovidercharge", "refund": "payments_mockproviderrefund"}
    with psycopg.connect(stack.dsn("payments")) as conn:
        return conn.execute(f"SELECT count(*) FROM {table[kind]}").fetchone()[0]  # noqa: S608


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
    charges_before = provider_records(stack, "charge")
    with ThreadPoolExecutor(max_workers=20) as pool:
        replies = list(pool.map(lambda _: pay(api, customer, order["id"]), range(20)))
    statuses = sorted(r.status for r in replies)
    assert statuses.count(201) == 1 and statuses.count(409) == 19, statuses
    assert provider_records(stack, "charge") == charges_before + 1
    payments = api.get(f"/payments?order_id={order['id']}", token=customer["access"]).json()[
        "results"
    ]
    assert [p["status"] for p in payments] == ["SUCCEEDED"]


def test_idempotent_retry_and_reused_key(api, stack, menu, customer):
    order = place(api, customer, menu)
    key = uuid.uuid4().hex
    first = pay(api, customer, order["id"], key=key)
    assert first.status == 201, first
    charges = provider_records(stack, "charge")
    again = pay(api, customer, order["id"], key=key)
    assert (again.status, again.json()) == (first.status, first.json())
    assert provider_records(stack, "charge") == charges
    other = pay(api, customer, order["id"], card="5555555555554444", key=key)
    assert other.status == 422 and other.json()["code"] == "idempotency_key_reused", other


def test_cancelling_a_paid_order_refunds_it_once(api, stack, menu, customer):
    order = place(api, customer, menu)
    payment = pay(api, customer, order["id"]).json()
    wait_status(api, customer, order["id"], "PAID")
    refunds_before = provider_records(stack, "refund")
    cancelled = api.post(f"/orders/{order['id']}/cancel", {}, token=customer["access"])
    assert cancelled.status == 200 and cancelled.json()["refund_pending"] is True, cancelled
    assert api.post(f"/orders/{order['id']}/cancel", {}, token=customer["access"]).status == 409
    refunded = wait_status(api, customer, order["id"], "REFUNDED")
    assert refunded["refund_pending"] is False
    assert [h["to_status"] for h in refunded["status_history"]][-2:] == ["CANCELLED", "REFUNDED"]
    paid = api.get(f"/payments/{payment['id']}", token=customer["access"]).json()
    assert paid["status"] == "REFUNDED" and len(paid["refunds"]) == 1
    assert provider_records(stack, "refund") == refunds_before + 1
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


# -- card testing ------------------------------------------------------------------------------


def test_card_testing_is_stopped_after_five_declines_and_every_decline_looks_alike(
    api, menu, customer
):
    order = place(api, customer, menu)
    # Given five declines, for two different reasons at the provider
    for card in (DECLINED, NO_FUNDS, DECLINED, NO_FUNDS, DECLINED):
        declined = pay(api, customer, order["id"], card=card)
        assert declined.status == 402, declined
        assert declined.json()["failure_reason"] == "card_declined"
        assert b"insufficient" not in declined.body
    # When a sixth card is tried, even a good one
    refused = pay(api, customer, order["id"])
    # Then the order cannot be paid any more, in the one JSON error shape
    assert refused.status == 409, refused
    assert refused.json()["code"] == "too_many_payment_attempts"
    assert refused.json()["max_failed_attempts"] == 5 and refused.json()["request_id"]
    payments = api.get(f"/payments?order_id={order['id']}", token=customer["access"]).json()
    assert [p["failure_reason"] for p in payments["results"]] == ["card_declined"] * 5
    # ...and nothing the customer can read tells the reasons apart
    wait_status(api, customer, order["id"], "PAYMENT_FAILED")
    assert b"insufficient" not in api.get(f"/orders/{order['id']}", token=customer["access"]).body


# -- an admin's refund -------------------------------------------------------------------------


class AdminSession:
    """A staff user logged in to one service's Django admin (session and CSRF cookies)."""

    def __init__(self, base_url: str, service: str):
        self.base_url, self.prefix = base_url, f"/admin/{service}"
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=15))
        self.cookies: dict[str, str] = {}
        self.csrf_cookie = f"{service}_csrftoken"

    def request(
        self, method: str, path: str, fields: dict | None = None
    ) -> urllib3.BaseHTTPResponse:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if fields is not None:
            body = urlencode(fields, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = self.http.request(
            method, self.base_url + self.prefix + path, body=body, headers=headers, redirect=False
        )
        for header in response.headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response

    def form_token(self, path: str) -> str:
        page = self.request("GET", path)
        assert page.status == 200, (page.status, page.data[:300])
        found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.data)
        assert found, page.data[:300]
        return found.group(1).decode()

    def login(self, username: str, password: str) -> None:
        token = self.form_token("/login/")
        reply = self.request(
            "POST",
            "/login/",
            {"username": username, "password": password, "csrfmiddlewaretoken": token},
        )
        assert reply.status == 302, (reply.status, reply.data[:500])

    def action(self, changelist: str, action: str, ids: list[int]) -> str:
        """Run an admin action on the selected rows; return the page's messages (text)."""
        token = self.form_token(changelist)
        reply = self.request(
            "POST",
            changelist,
            {
                "action": action,
                "_selected_action": [str(i) for i in ids],
                "index": "0",
                "csrfmiddlewaretoken": token,
            },
        )
        assert reply.status == 302, (reply.status, reply.data[:500])
        page = self.request("GET", changelist)
        return " ".join(
            html.unescape(m.decode())
            for m in re.findall(rb'<li class="(?:success|error|warning)">(.*?)</li>', page.data)
        )


def logged_in_admin(stack, project: str, username: str) -> AdminSession:
    """A superuser of `project`'s admin (created with the project's own command), logged in."""
    password = secrets.token_urlsafe(16)
    created = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "ensure_local_admin"],
        cwd=ROOT / f"{project}_project",
        env={
            **stack.env(project),
            "LOCAL_ADMIN_USERNAME": username,
            "LOCAL_ADMIN_PASSWORD": password,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    session = AdminSession(stack.url(project), project)
    session.login(username, password)
    return session


@pytest.fixture(scope="module")
def payments_admin(stack) -> AdminSession:
    return logged_in_admin(stack, "payments", "refunds-admin")


def test_admin_refund_of_a_paid_order_moves_it_out_of_paid_and_the_owner_cannot_accept(
    api, stack, menu, customer, payments_admin
):
    # Given a PAID order
    order = place(api, customer, menu)
    payment = pay(api, customer, order["id"]).json()
    wait_status(api, customer, order["id"], "PAID")
    refunds_before = provider_records(stack, "refund")

    # When an admin refunds its payment in the payments admin
    messages = payments_admin.action("/payments/payment/", "refund", [payment["id"]])

    assert "1 payment(s) refunded" in messages, messages
    refunded = api.get(f"/payments/{payment['id']}", token=customer["access"]).json()
    assert refunded["status"] == "REFUNDED" and len(refunded["refunds"]) == 1
    assert provider_records(stack, "refund") == refunds_before + 1
    # Then the order leaves PAID within seconds, through the state machine...
    done = wait_status(api, customer, order["id"], "REFUNDED", timeout=15)
    last = done["status_history"][-1]
    assert (last["from_status"], last["to_status"]) == ("PAID", "REFUNDED")
    assert done["refund_pending"] is False
    # ...and its restaurant's owner can no longer accept it
    accept = api.post(
        f"/orders/{order['id']}/status", {"status": "ACCEPTED"}, token=menu["owner"]["access"]
    )
    assert accept.status == 409, accept
    assert accept.json()["code"] == "invalid_transition" and accept.json()["request_id"]
    assert order_of(api, customer, order["id"])["status"] == "REFUNDED"
    wait_for(
        lambda: "payment.refunded" in event_types(api, customer, order["id"]),
        message="refund notice",
    )


# -- our Redis down is not the provider down ---------------------------------------------------


def test_payments_succeed_while_redis_is_down_and_the_order_is_paid_once_it_is_back(
    api, stack, menu, customer
):
    # Given two orders whose placing events were handled (the restarted Redis starts empty)
    orders = [place(api, customer, menu) for _ in range(2)]
    for order in orders:
        wait_for(
            lambda o=order: "order.created" in event_types(api, customer, o["id"]),
            message="the order.created notice",
        )
    stack.redis.stop()
    try:
        # When they are paid while the system's Redis is down
        paid = pay(api, customer, orders[0]["id"])
        declined = pay(api, customer, orders[1]["id"], card=DECLINED)
        # Then the payment is answered as if nothing happened: the provider is not our Redis
        assert paid.status == 201, paid
        assert paid.json()["status"] == "SUCCEEDED"
        assert declined.status == 402, declined
        assert declined.json()["failure_reason"] == "card_declined"
        # ...and the orders wait for their events, which sit in the outbox meanwhile
        assert order_of(api, customer, orders[0]["id"])["status"] == "PLACED"
    finally:
        stack.start_redis()
    # Once Redis is back, the events are swept out and the orders move, once
    done = wait_status(api, customer, orders[0]["id"], "PAID", timeout=60)
    assert [h["to_status"] for h in done["status_history"]].count("PAID") == 1
    wait_status(api, customer, orders[1]["id"], "PAYMENT_FAILED", timeout=60)
    # The gateway did not open the payments circuit: the next payment goes through
    assert pay(api, customer, place(api, customer, menu)["id"]).status == 201
