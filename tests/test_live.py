"""Live updates end to end: real WebSockets (the `websockets` client) on /ws/live through the
gateway, to the live server (bin/live), fed by the real workers; and the /live page in a real
headless Chromium (Debian's `chromium`, driven over the DevTools protocol)."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from tests.client import open_kitchen, unique, wait_for
from tests.last_mile import (
    new_city,
    north_of,
    pay,
    ready_order,
    report,
    step,
    wait_offer,
    wait_status,
    working_rider,
)
from tests.stack import ROOT, Process, free_port, wait_until_up

POSITION = "delivery.position"


# -- a client of /ws/live --------------------------------------------------------------------------


class LiveClient:
    """One WebSocket of /ws/live: what the server sent before it said it is ready, then the rest."""

    def __init__(self, base_url: str, access: str, *, after: int | None = None, direct=False):
        query = "" if after is None else f"?after={after}"
        url = base_url.replace("http://", "ws://") + "/ws/live" + query
        if direct:  # straight to the live server, as the gateway does: the token in Authorization
            options = {"additional_headers": {"Authorization": f"Bearer {access}"}}
        else:  # as a browser does through the gateway: the token in Sec-WebSocket-Protocol
            options = {"subprotocols": ["bearer", access]}
        self.ws = ws_connect(url, open_timeout=10, close_timeout=2, legacy=True, **options)
        self.caught_up = []
        while (message := self.receive())["type"] != "ready":
            self.caught_up.append(message)
        self.ready = message

    def receive(self, timeout: float = 20) -> dict:
        return json.loads(self.ws.recv(timeout=timeout))

    def messages(self, count: int, timeout: float = 30) -> list[dict]:
        """The next `count` messages with an id (positions have none and are skipped)."""
        found, deadline = [], time.monotonic() + timeout
        while len(found) < count:
            message = self.receive(max(0.1, deadline - time.monotonic()))
            if message["type"] != POSITION:
                found.append(message)
        return found

    def silent_for(self, seconds: float) -> list[dict]:
        """What arrives within `seconds` (a client that should hear nothing gets [])."""
        heard, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                heard.append(self.receive(left))
            except TimeoutError:
                break
        return heard

    def close_code(self, timeout: float = 15) -> int | None:
        """Wait until the server closes the socket; return its close code."""
        try:
            while True:
                self.ws.recv(timeout=timeout)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None

    def close(self) -> None:
        self.ws.close()


def refused_code(base_url: str, access: str, *, direct=False) -> int | None:
    """Open /ws/live with this token; return the close code it gets before it is ever ready."""
    url = base_url.replace("http://", "ws://") + "/ws/live?after=0"
    options = (
        {"additional_headers": {"Authorization": f"Bearer {access}"}}
        if direct
        else {"subprotocols": ["bearer", access]}
    )
    with ws_connect(url, open_timeout=10, **options) as ws:
        try:
            message = ws.recv(timeout=15)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
    raise AssertionError(f"the socket was not closed: {message}")


def reissued(access: str, key_pem: bytes, **claims) -> str:
    """`access` with some claims changed, signed with `key_pem` under the same key id."""
    header = jwt.get_unverified_header(access)
    payload = {**jwt.decode(access, options={"verify_signature": False}), **claims}
    key = serialization.load_pem_private_key(key_pem, password=None)
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": header["kid"]})


def forged_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# -- the people and their orders -------------------------------------------------------------------


@pytest.fixture(scope="module")
def kitchen(api):
    """A restaurant of this module's own (no other test's order reaches its owner) and a dish."""
    return open_kitchen(api, (20.0, 10.0), dish="Gyros", price="9.00")  # far from other riders


def place(api, kitchen, customer, base_url=None) -> dict:
    reply = api.post(
        "/orders",
        {
            "restaurant_id": kitchen["restaurant"]["id"],
            "items": [{"menu_item_id": kitchen["dish"]["id"], "quantity": 1}],
            "delivery_address": "10 Home St",
            "delivery_lat": 20.01,
            "delivery_lon": 10.0,
        },
        token=customer["access"],
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert reply.status == 201, reply
    return reply.json()


def advance(api, kitchen, order: dict, *statuses: str, base_url=None) -> None:
    for status in statuses:
        reply = api.post(
            f"/orders/{order['id']}/status",
            {"status": status},
            token=kitchen["owner"]["access"],
            base_url=base_url,
        )
        assert reply.status == 200 and reply.json()["status"] == status, reply


def stored_ids(api, user: dict) -> list[int]:
    """The ids of the user's notifications (GET /notifications: newest first), oldest first."""
    reply = api.get("/notifications", token=user["access"])
    assert reply.status == 200, reply
    return sorted(n["id"] for n in reply.json()["results"])


def stored_after(api, user: dict, after: int | None, *, count: int) -> list[int]:
    """Wait until the user has `count` notifications after id `after`; return their ids."""

    def found():
        ids = [i for i in stored_ids(api, user) if i > (after or 0)]
        return ids if len(ids) >= count else None

    return wait_for(found, message=f"{count} notifications after {after}")


def what(message: dict) -> tuple:
    data = message.get("data") or {}
    return (message["type"], message.get("order_id"), data.get("status") or data.get("outcome"))


# -- who hears what --------------------------------------------------------------------------------


def test_each_user_hears_their_own_order_news_in_order_and_nobody_else_does(
    api, stack, kitchen, customer
):
    other = api.register_and_login(unique("live-other"))
    sockets = {
        name: LiveClient(stack.gateway_url, user["access"])
        for name, user in (("customer", customer), ("owner", kitchen["owner"]), ("other", other))
    }
    try:
        # When the customer orders and pays, and the restaurant takes the order to READY
        order = place(api, kitchen, customer)
        pay(api, customer, order)
        advance(api, kitchen, order, "ACCEPTED", "PREPARING", "READY")

        # Then the customer hears each step, in order
        heard = sockets["customer"].messages(5)
        assert [what(m) for m in heard] == [
            ("order.status", order["id"], "PLACED"),
            ("payment", order["id"], "succeeded"),
            ("order.status", order["id"], "ACCEPTED"),
            ("order.status", order["id"], "PREPARING"),
            ("order.status", order["id"], "READY"),
        ]
        assert [m["id"] for m in heard] == sorted(m["id"] for m in heard)
        # the owner hears of the new paid order (first of all)
        (new_order,) = sockets["owner"].messages(1)
        assert what(new_order) == ("order.new", order["id"], "PAID")
        # and another customer hears nothing at all
        assert sockets["other"].silent_for(1.5) == []
    finally:
        for socket in sockets.values():
            socket.close()


def test_all_the_way_to_the_door_customer_rider_and_owner_each_hear_their_part(
    api, stack, admin, customer
):
    city = new_city()
    door_kitchen = open_kitchen(api, city)
    rider = working_rider(api, admin, north_of(city, 0.5))
    sockets = {
        name: LiveClient(stack.gateway_url, user["access"])
        for name, user in (
            ("customer", customer),
            ("owner", door_kitchen["owner"]),
            ("rider", rider),
        )
    }
    try:
        # The order is paid and made ready: the nearest rider is offered it, on their socket
        order = ready_order(api, door_kitchen, customer)
        (offered,) = sockets["rider"].messages(1)
        assert (offered["type"], offered["order_id"]) == ("delivery.offer", order["id"])
        # (the event's times are to the millisecond, the API's to the microsecond)
        assert offered["data"]["expires_at"][:23] == wait_offer(api, rider)["expires_at"][:23]
        delivery_id = offered["data"]["delivery_id"]

        # They take it, ride (the customer sees where they are), pick it up and hand it over
        step(api, rider, delivery_id, "accept", "ASSIGNED")
        report(api, rider, north_of(city, 0.8))
        step(api, rider, delivery_id, "pickup", "PICKED_UP")
        step(api, rider, delivery_id, "deliver", "DELIVERED")
        wait_status(api, customer, order["id"], "DELIVERED")

        heard, positions = [], []
        while not heard or (heard[-1].get("data") or {}).get("status") != "DELIVERED":
            message = sockets["customer"].receive()
            (positions if message["type"] == POSITION else heard).append(message)
        statuses = [m["data"]["status"] for m in heard if m["type"] == "order.status"]
        assert statuses[:4] == ["PLACED", "ACCEPTED", "PREPARING", "READY"], heard
        assert statuses[-1] == "DELIVERED"
        assert ("payment", order["id"], "succeeded") in [what(m) for m in heard]
        assert [m["id"] for m in heard] == sorted(m["id"] for m in heard)
        assert {(p["order_id"], p["delivery_id"]) for p in positions} == {
            (order["id"], delivery_id)
        }
        assert {"lat": rider["at"][0], "lon": rider["at"][1]} in [p["data"] for p in positions]
        # the owner heard of the paid order; the rider heard nothing of the customer's
        assert what(sockets["owner"].messages(1)[0]) == ("order.new", order["id"], "PAID")
        assert [m for m in sockets["rider"].silent_for(1) if m["type"] == "order.status"] == []
    finally:
        for socket in sockets.values():
            socket.close()


def test_a_client_that_reconnects_with_its_last_id_gets_what_it_missed_once(
    api, stack, kitchen, customer
):
    socket = LiveClient(stack.gateway_url, customer["access"])
    last_id = socket.ready["last_id"]
    socket.close()

    # While it is away, two things happen to its orders
    order = place(api, kitchen, customer)
    pay(api, customer, order)
    missed = stored_after(api, customer, last_id, count=2)

    # It reconnects with the last id it saw: both arrive, in order, once, then it is live
    again = LiveClient(stack.gateway_url, customer["access"], after=last_id or 0)
    try:
        assert [what(m) for m in again.caught_up] == [
            ("order.status", order["id"], "PLACED"),
            ("payment", order["id"], "succeeded"),
        ]
        assert [m["id"] for m in again.caught_up] == missed
        assert again.ready["last_id"] == missed[-1]
        assert again.silent_for(1) == []
    finally:
        again.close()


@pytest.mark.parametrize("kind", ["garbage", "expired", "refresh", "forged"])
def test_a_bad_token_is_refused_4401_by_the_gateway_and_by_the_live_server(
    api, stack, customer, kind
):
    token = {
        "garbage": "not-a-token",
        "expired": reissued(customer["access"], stack.private_key_pem, exp=int(time.time()) - 5),
        "refresh": customer["refresh"],
        "forged": reissued(customer["access"], forged_key_pem()),
    }[kind]

    assert refused_code(stack.gateway_url, token) == 4401
    # Never trusting the gateway: the live server checks the token it is handed, too.
    assert refused_code(stack.url("live"), token, direct=True) == 4401


def test_when_the_token_expires_the_socket_closes_4401_and_a_fresh_one_resumes(
    api, stack, kitchen, customer
):
    # A token that expires in 3 s (as auth's would after JWT_ACCESS_MINUTES)
    short = reissued(customer["access"], stack.private_key_pem, exp=int(time.time()) + 3)
    socket = LiveClient(stack.gateway_url, short)
    last_id = socket.ready["last_id"] or 0
    assert socket.close_code(timeout=10) == 4401

    order = place(api, kitchen, customer)  # meanwhile
    reply = api.post("/auth/refresh", {"refresh": customer["refresh"]})
    assert reply.status == 200, reply
    customer.update(reply.json())

    again = LiveClient(stack.gateway_url, customer["access"], after=last_id)
    try:
        assert [what(m) for m in again.caught_up] == [("order.status", order["id"], "PLACED")]
    finally:
        again.close()


# -- the gateway restarted -------------------------------------------------------------------------


@contextmanager
def own_gateway(stack):
    """A gateway of this test's own in front of the stack (so restarting it disturbs no one)."""
    port, metrics_port = free_port(), free_port()
    env = {**stack.env("gateway"), "GATEWAY_METRICS_PORT": str(metrics_port)}
    process = Process(
        "gateway-live",
        [str(ROOT / "bin" / "serve"), "gateway", str(port)],
        env,
        stack.logs / "gateway-live.log",
    )
    url = f"http://127.0.0.1:{port}"

    def start():
        process.start()
        wait_until_up(f"{url}/health", process)

    start()
    try:
        yield url, process, start
    finally:
        process.stop()


def test_after_the_gateway_restarts_the_client_reconnects_and_misses_nothing(
    api, stack, kitchen, customer
):
    order = place(api, kitchen, customer)
    pay(api, customer, order)
    with own_gateway(stack) as (url, gateway, start):
        socket = LiveClient(url, customer["access"])
        seen = socket.ready["last_id"]

        # The gateway dies (SIGKILL) under the open socket; the order moves on meanwhile (the
        # restaurant reaches the orders service through the stack's own gateway)
        gateway.kill()
        assert socket.close_code(timeout=10) != 4401  # dropped, not refused
        advance(api, kitchen, order, "ACCEPTED", "PREPARING")
        stored_after(api, customer, seen, count=2)

        # The gateway is back: the client reconnects with the last id it saw
        start()
        again = LiveClient(url, customer["access"], after=seen)
        try:
            assert [what(m) for m in again.caught_up] == [
                ("order.status", order["id"], "ACCEPTED"),
                ("order.status", order["id"], "PREPARING"),
            ]
            advance(api, kitchen, order, "READY")  # and live again
            assert [what(m) for m in again.messages(1)] == [("order.status", order["id"], "READY")]
        finally:
            again.close()


# -- the /live page in a real browser --------------------------------------------------------------


class Browser:
    """Headless Chromium with the DevTools protocol on a port: evaluate JavaScript in its page."""

    def __init__(self, url: str, workdir):
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        assert chromium, "Debian's chromium is needed (.ci/run installs it)"
        port = free_port()
        self.process = subprocess.Popen(
            [
                chromium,
                "--headless=new",
                "--no-sandbox",  # CI runs as root
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={workdir}",
                f"--remote-debugging-port={port}",
                url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its zygote, renderers and crash handler: one group to stop
        )
        page = wait_for(lambda: self._page(port), timeout=30, message="chromium's page")
        self.cdp = ws_connect(
            page["webSocketDebuggerUrl"], max_size=None, open_timeout=10, legacy=True
        )
        self.ids = iter(range(1, 1_000_000))

    @staticmethod
    def _page(port: int):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as reply:
                pages = [t for t in json.load(reply) if t.get("type") == "page"]
        except OSError:
            return None
        return pages[0] if pages else None

    def evaluate(self, expression: str):
        call = next(self.ids)
        self.cdp.send(
            json.dumps(
                {
                    "id": call,
                    "method": "Runtime.evaluate",
                    "params": {
                        "expression": expression,
                        "returnByValue": True,
                        "awaitPromise": True,
                    },
                }
            )
        )
        while True:
            answer = json.loads(self.cdp.recv(timeout=20))
            if answer.get("id") == call:
                # An error: the page is still loading (no context to evaluate in yet).
                return answer.get("result", {}).get("result", {}).get("value")

    def close(self) -> None:
        """Stop every process of the browser, so that none still writes to its profile."""
        self.cdp.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        wait_for(lambda: not _group_alive(self.process.pid), timeout=10, interval=0.1,
                 message="chromium's processes to end")  # fmt: skip


def _group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs (a zombie, waiting to be reaped, does not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ")".
            state, _ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):
            continue  # ended while we looked
        if int(pgrp) == pgid and state != "Z":
            return True
    return False


def test_the_live_page_shows_a_status_change_in_a_real_browser(api, stack, kitchen, customer):
    order = place(api, kitchen, customer)
    pay(api, customer, order)
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(f"{stack.gateway_url}/live", profile)
        try:
            loaded = 'document.readyState === "complete" && location.pathname === "/live"'
            wait_for(lambda: browser.evaluate(loaded), message="the page to load")
            # A person logs in on the page
            browser.evaluate(
                f"""document.getElementById("email").value = {json.dumps(customer["email"])};
                document.getElementById("password").value = {json.dumps(customer["password"])};
                document.getElementById("login").requestSubmit();"""
            )
            status = 'document.getElementById("status").textContent'
            wait_for(lambda: browser.evaluate(status) == "Live.", message="the page to be live")

            # When the restaurant accepts the order, the page shows it
            advance(api, kitchen, order, "ACCEPTED")
            shown = wait_for(
                lambda: browser.evaluate(
                    """[...document.querySelectorAll("#messages li")]
                       .map(li => li.dataset.type + " | " + li.textContent)"""
                ),
                message="a message on the page",
            )
            assert any(
                line.startswith("order.status | ") and f"Order #{order['id']} accepted" in line
                for line in shown
            ), shown
        finally:
            browser.close()
