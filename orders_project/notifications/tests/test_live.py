"""Live updates: who hears what, /ws/live over the real channel layer (Redis pub/sub), catching up.

The WebSocket tests drive the project's ASGI application (routing included) with asgiref's
ApplicationCommunicator, as Channels' WebsocketCommunicator does (`channels.testing` cannot be
imported without daphne, a server we do not run); pushes go from the real handlers through Redis
to the consumer, as in production.
"""

import asyncio
import json
import threading
from urllib.parse import urlparse

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.core import mail
from django.db import connection, connections, transaction
from orders_config.asgi import application

from food_common.events.bus import Event, dispatch
from food_common.live import push_to_user
from food_common.testing import OWNER, make_access_token
from notifications import services
from notifications.live import live_message, notification_push
from notifications.models import Notification, NotificationStatus
from notifications.tests.factories import (
    ABOUT_ORDER_12,
    CUSTOMER,
    EVENTS,
    OTHER_CUSTOMER,
    NotificationFactory,
    envelope,
    payment_data,
)

pytestmark = pytest.mark.django_db(transaction=True)

RIDER = 401


def delivery_offered_data(**changes) -> dict:
    return {
        **ABOUT_ORDER_12,
        "delivery_id": 5,
        "offer_id": 9,
        "rider": {"id": 3, "user_id": RIDER, "name": "Rita", "vehicle_type": "bicycle"},
        "pickup": {"lat": 52.52, "lon": 13.405},
        "dropoff": {"lat": 52.53, "lon": 13.41, "address": "10 Home St"},
        "distance_km": 1.2,
        "offered_at": "2026-01-05T12:00:00Z",
        "expires_at": "2026-01-05T12:00:30Z",
        **changes,
    }


def notify(event_type: str, data: dict) -> None:
    assert dispatch(envelope(event_type, data), "notifications") == []


# -- who is told what ------------------------------------------------------------------------


def test_the_restaurant_owner_hears_of_a_paid_order_live_only():
    notify("order.status_changed", {**EVENTS["order.status_changed"], "to_status": "PAID"})

    notification = Notification.objects.get()
    assert (notification.recipient_id, notification.recipient_email) == (OWNER, "")
    assert (notification.channel, notification.status) == ("live", NotificationStatus.SENT)
    assert live_message(notification) == {
        "id": notification.pk,
        "type": "order.new",
        "order_id": 12,
        "at": notification.created_at.isoformat(),
        "subject": "New order #12",
        "text": "Order #12 is paid: accept it to start preparing it.",
        "data": {"status": "PAID", "restaurant_id": 3},
    }
    assert mail.outbox == []


def test_the_restaurant_owner_hears_of_cancelled_paid_orders_only():
    cancelled = EVENTS["order.cancelled"]
    notify("order.cancelled", {**cancelled, "was_paid": True, "reason": "No dough"})
    notify("order.cancelled", {**cancelled, "order_id": 13, "was_paid": False})

    owners = Notification.objects.filter(recipient_id=OWNER)
    assert [(n.kind, n.order_id, n.data["reason"]) for n in owners] == [
        ("order.cancelled", 12, "No dough")
    ]
    assert Notification.objects.filter(recipient_id=CUSTOMER).count() == 2
    assert [m.to for m in mail.outbox] == [["ann@example.com"], ["ann@example.com"]]


@pytest.mark.consumes("delivery.offered")
def test_a_rider_hears_of_the_delivery_offered_to_them_and_its_expiry():
    notify("delivery.offered", delivery_offered_data())

    notification = Notification.objects.get()
    assert (notification.recipient_id, notification.channel) == (RIDER, "live")
    message = live_message(notification)
    assert message["type"] == "delivery.offer" and message["order_id"] == 12
    assert message["data"]["expires_at"] == "2026-01-05T12:00:30Z"
    assert message["data"]["pickup"] == {"lat": 52.52, "lon": 13.405}
    assert mail.outbox == []


def delivery_cancelled_data(**changes) -> dict:
    return {
        **ABOUT_ORDER_12,
        "delivery_id": 5,
        "rider": None,
        "offered_to": None,
        "was_picked_up": False,
        "reason": "",
        "cancelled_at": "2026-01-05T12:01:00Z",
        **changes,
    }


@pytest.mark.consumes("delivery.cancelled")
@pytest.mark.parametrize(
    ("who", "text"),
    [
        ("rider", "Order #12 was cancelled: do not deliver it; you are free again."),
        ("offered_to", "Order #12 was cancelled: its offer is withdrawn."),
    ],
)
def test_a_rider_hears_that_their_delivery_or_offer_is_cancelled(who, text):
    rider = delivery_offered_data()["rider"]
    notify("delivery.cancelled", delivery_cancelled_data(**{who: rider}))

    notification = Notification.objects.get()
    assert (notification.recipient_id, notification.channel) == (RIDER, "live")
    message = live_message(notification)
    assert (message["type"], message["order_id"], message["text"]) == (
        "delivery.cancelled",
        12,
        text,
    )
    assert message["data"] == {"delivery_id": 5, "was_offer": who == "offered_to"}
    assert mail.outbox == []


@pytest.mark.consumes("delivery.assigned")
def test_a_rider_whose_offer_an_admin_gave_to_another_hears_it_is_withdrawn():
    offered_rider = delivery_offered_data()["rider"]
    taker = {**offered_rider, "id": 8, "user_id": 702, "name": "Bo"}
    data = {
        **ABOUT_ORDER_12,
        "delivery_id": 5,
        "rider": taker,
        "assigned_at": "2026-01-05T12:01:00Z",
        "offer_withdrawn_from": offered_rider,
    }

    notify("delivery.assigned", data)

    # The customer hears who brings the order, the rider whose offer was open hears it is gone
    # (live only, never emailed), and the rider who has it nothing from this event.
    assert set(Notification.objects.values_list("recipient_id", flat=True)) == {CUSTOMER, RIDER}
    withdrawn = Notification.objects.get(recipient_id=RIDER)
    assert withdrawn.channel == "live"
    message = live_message(withdrawn)
    assert (message["type"], message["order_id"], message["text"]) == (
        "delivery.cancelled",
        12,
        "Order #12 was given to another rider: its offer is withdrawn.",
    )
    assert message["data"] == {"delivery_id": 5, "was_offer": True}
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]

    Notification.objects.all().delete()
    notify("delivery.assigned", {**data, "offer_withdrawn_from": None})
    assert set(Notification.objects.values_list("recipient_id", flat=True)) == {CUSTOMER}


@pytest.mark.consumes("delivery.cancelled")
def test_a_delivery_cancelled_while_nobody_had_it_tells_nobody():
    notify("delivery.cancelled", delivery_cancelled_data())

    assert Notification.objects.count() == 0


def test_the_customer_messages_say_which_status_or_outcome():
    notify("order.created", EVENTS["order.created"])
    notify("payment.succeeded", payment_data())
    notify("order.status_changed", EVENTS["order.status_changed"])

    messages = [live_message(n) for n in Notification.objects.order_by("id")]
    assert [(m["type"], m["data"].get("status") or m["data"].get("outcome")) for m in messages] == [
        ("order.status", "PLACED"),
        ("payment", "succeeded"),
        ("order.status", "ACCEPTED"),
    ]


def test_a_recipients_notifications_are_written_one_transaction_at_a_time():
    # Given a handler that wrote the customer a notification and has not committed yet
    written, release = threading.Event(), threading.Event()

    def first_handler():
        with transaction.atomic():
            services.notification_create_for_event(
                event=Event.from_envelope(envelope("payment.succeeded", payment_data()))
            )
            written.set()
            release.wait(10)
        connection.close()

    def second_handler():
        notify("order.status_changed", EVENTS["order.status_changed"])
        connection.close()

    first = threading.Thread(target=first_handler)
    first.start()
    assert written.wait(10)
    # When a second event for the same customer is handled meanwhile
    second = threading.Thread(target=second_handler)
    second.start()
    # Then it waits for the first to commit before it takes an id
    try:
        assert wait_for(advisory_lock_waited)
    finally:
        release.set()
        first.join(10)
        second.join(10)
    paid, accepted = Notification.objects.order_by("id")
    assert (paid.event_type, accepted.event_type) == ("payment.succeeded", "order.status_changed")


def advisory_lock_waited() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchone() is not None


def wait_for(predicate, timeout: float = 5.0) -> bool:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return True
        threading.Event().wait(0.05)
    return False


# -- /ws/live ------------------------------------------------------------------------------------


class Socket(ApplicationCommunicator):
    """One WebSocket to the application: the scope a server would give it, and its frames."""

    def __init__(self, path: str, headers: list):
        url = urlparse(path)
        scope = {
            "type": "websocket",
            "path": url.path,
            "query_string": url.query.encode(),
            "headers": headers,
            "subprotocols": [],
        }
        super().__init__(application, scope)

    async def connect(self, timeout: float = 5) -> tuple[bool, int | None]:
        await self.send_input({"type": "websocket.connect"})
        answer = await self.receive_output(timeout)
        return answer["type"] == "websocket.accept", answer.get("code")

    async def receive_json_from(self, timeout: float = 5):
        answer = await self.receive_output(timeout)
        assert answer["type"] == "websocket.send", answer
        return json.loads(answer["text"])

    async def send_json_to(self, data) -> None:
        await self.send_input({"type": "websocket.receive", "text": json.dumps(data)})

    async def disconnect(self) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.wait(5)


def live_socket(user_id: int = CUSTOMER, *, token: str | None = None, path: str = "/ws/live"):
    token = make_access_token(user_id) if token is None else token
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    return Socket(path, headers)


async def opened(socket) -> list[dict]:
    """Connect; return what the server sent before it said it is ready (the catch-up), ready last."""
    connected, _ = await socket.connect(timeout=5)
    assert connected
    received = []
    while not received or received[-1].get("type") != "ready":
        received.append(await socket.receive_json_from(timeout=5))
    return received


async def close_code(socket) -> int:
    output = await socket.receive_output(timeout=5)
    assert output["type"] == "websocket.close", output
    return output["code"]


async def handled(event_type: str, data: dict) -> None:
    await sync_to_async(notify)(event_type, data)


def run(scenario):
    async def and_close_connections():
        try:
            await scenario()
        finally:  # the consumer's queries ran in asgiref's sync thread: close its connection
            await sync_to_async(connections.close_all)()

    asyncio.run(and_close_connections())


def test_each_user_hears_their_own_messages_live_and_nobody_else_does():
    async def scenario():
        customer, other, owner = (
            live_socket(CUSTOMER),
            live_socket(OTHER_CUSTOMER),
            live_socket(OWNER),
        )
        for socket in (customer, other, owner):
            assert (await opened(socket)) == [{"type": "ready", "last_id": None}]

        await handled("order.created", EVENTS["order.created"])
        await handled(
            "order.status_changed", {**EVENTS["order.status_changed"], "to_status": "PAID"}
        )
        await handled("payment.succeeded", payment_data())

        placed = await customer.receive_json_from(timeout=5)
        paid = await customer.receive_json_from(timeout=5)
        new_order = await owner.receive_json_from(timeout=5)
        assert (placed["type"], placed["data"]["status"]) == ("order.status", "PLACED")
        assert (paid["type"], paid["data"]["outcome"]) == ("payment", "succeeded")
        assert placed["id"] < paid["id"]
        assert (new_order["type"], new_order["order_id"]) == ("order.new", 12)
        assert await customer.receive_nothing(timeout=0.3)
        assert await owner.receive_nothing(timeout=0.1)
        assert await other.receive_nothing(timeout=0.1)
        for socket in (customer, other, owner):
            await socket.disconnect()

    run(scenario)


def test_a_client_that_reconnects_after_an_id_gets_what_it_missed_in_order_then_live():
    seen = NotificationFactory(recipient_id=CUSTOMER)
    missed = [NotificationFactory(recipient_id=CUSTOMER) for _ in range(2)]
    NotificationFactory(recipient_id=OTHER_CUSTOMER)  # never sent to the customer

    async def scenario():
        socket = live_socket(path=f"/ws/live?after={seen.pk}")
        *caught_up, ready = await opened(socket)
        assert [m["id"] for m in caught_up] == [n.pk for n in missed]
        assert ready == {"type": "ready", "last_id": missed[-1].pk}

        await handled("payment.succeeded", payment_data())
        live = await socket.receive_json_from(timeout=5)
        assert live["id"] > missed[-1].pk and live["type"] == "payment"
        await socket.disconnect()

    run(scenario)


def test_a_resume_message_sends_what_came_after_its_id():
    first, second, third = [NotificationFactory(recipient_id=CUSTOMER) for _ in range(3)]

    async def scenario():
        socket = live_socket()
        assert (await opened(socket)) == [{"type": "ready", "last_id": third.pk}]
        await socket.send_json_to({"type": "resume", "after": first.pk})
        assert [(await socket.receive_json_from(timeout=5))["id"] for _ in range(2)] == [
            second.pk,
            third.pk,
        ]
        assert await socket.receive_nothing(timeout=0.2)
        await socket.disconnect()

    run(scenario)


def test_a_push_that_was_lost_is_read_from_the_database_before_the_next_one():
    async def scenario():
        socket = live_socket()
        await opened(socket)
        # A notification whose push never arrived (Redis was away), then one that is pushed
        lost = await sync_to_async(NotificationFactory)(recipient_id=CUSTOMER)
        await handled("payment.succeeded", payment_data())

        first = await socket.receive_json_from(timeout=5)
        second = await socket.receive_json_from(timeout=5)
        assert first["id"] == lost.pk and second["type"] == "payment"
        # A push of one the client has already is not sent again
        await sync_to_async(notification_push)(notification=lost, previous_id=None)
        assert await socket.receive_nothing(timeout=0.3)
        await socket.disconnect()

    run(scenario)


def test_positions_pushed_to_a_user_reach_their_sockets_only():
    position = {
        "type": "delivery.position",
        "order_id": 12,
        "delivery_id": 5,
        "at": "2026-01-05T12:00:00Z",
        "data": {"lat": 52.52, "lon": 13.405},
    }

    async def scenario():
        customer, other = live_socket(CUSTOMER), live_socket(OTHER_CUSTOMER)
        await opened(customer)
        await opened(other)

        await asyncio.wrap_future(
            push_to_user(CUSTOMER, {"type": "live.position", "message": position})
        )

        assert await customer.receive_json_from(timeout=5) == position
        assert await other.receive_nothing(timeout=0.3)
        await customer.disconnect()
        await other.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-token",
        make_access_token(CUSTOMER, lifetime=-10),
        make_access_token(CUSTOMER, token_type="refresh"),
        make_access_token(CUSTOMER, kid="someone-else"),
    ],
    ids=["none", "garbage", "expired", "refresh", "unknown-key"],
)
def test_without_a_valid_access_token_the_socket_is_closed_4401(token):
    NotificationFactory(recipient_id=CUSTOMER)

    async def scenario():
        socket = live_socket(token=token, path="/ws/live?after=0")
        connected, _ = await socket.connect(timeout=5)
        assert connected
        assert await close_code(socket) == 4401  # and nothing before it

    run(scenario)


def test_the_socket_is_closed_4401_when_its_token_expires():
    async def scenario():
        socket = live_socket(token=make_access_token(CUSTOMER, lifetime=2))
        await opened(socket)
        assert await close_code(socket) == 4401

    run(scenario)


def test_other_paths_are_closed_4404():
    async def scenario():
        socket = live_socket(path="/ws/elsewhere")
        connected, _ = await socket.connect(timeout=5)
        assert connected and await close_code(socket) == 4404

    run(scenario)
