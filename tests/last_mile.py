"""Helpers of the cross-service delivery tests (tests/test_delivery_flow.py, tests/test_live.py).

Riders in cities of their own, orders taken to READY, offers and the last mile's steps, all through
the gateway. The dispatch timings are the stack's (tests/stack.py, DELIVERY_TIMINGS).
"""

import itertools
import os
import re
import time
import uuid

from tests.client import unique, wait_for
from tests.stack import DELIVERY_TIMINGS

KM_PER_DEGREE = 111.2
GOOD_CARD = "4242424242424242"
ACTIVE = ("ASSIGNED", "PICKED_UP")


def timing(name: str) -> float:
    """The stack's value of a dispatch timing (tests/stack.py reads the environment the same way)."""
    return float(os.environ.get(name, DELIVERY_TIMINGS[name]))


OFFER_SECONDS = timing("DISPATCH_OFFER_SECONDS")
GIVE_UP_SECONDS = timing("DISPATCH_GIVE_UP_SECONDS")
MAX_RADIUS_KM = timing("DISPATCH_RADIUS_MAX_KM")
LOCATION_INTERVAL = timing("RIDER_LOCATION_MIN_INTERVAL")
_cities = itertools.count()


def new_city() -> tuple[float, float]:
    """A point 0.5° of latitude (55 km) from every other test's: beyond any search radius."""
    return (30.0 + 0.5 * next(_cities), 10.0)


def north_of(point: tuple[float, float], km: float) -> tuple[float, float]:
    return (round(point[0] + km / KM_PER_DEGREE, 6), point[1])


# -- riders and orders ----------------------------------------------------------------------------


def report(api, rider: dict, at: tuple[float, float]) -> None:
    """The rider's app reports where they are (waiting out the rate limit if it must)."""
    for _ in range(20):
        reply = api.request(
            "PUT",
            "/riders/me/location",
            json_body={"lat": at[0], "lon": at[1]},
            token=rider["access"],
        )
        if reply.status != 429:
            break
        time.sleep(float(reply.headers.get("Retry-After", LOCATION_INTERVAL)))
    assert reply.status == 204, reply
    rider["at"] = at


def working_rider(api, admin, at, *, vehicle: str = "bicycle") -> dict:
    """A rider who registered, made a profile, was verified by an admin, went on shift at `at`."""
    rider = api.register_and_login(unique("rider"), role="rider")
    rider["name"] = f"Rider {uuid.uuid4().hex[:8]}"
    reply = api.post(
        "/riders/me",
        {"name": rider["name"], "phone": "+49 30 1234567", "vehicle_type": vehicle},
        token=rider["access"],
    )
    assert reply.status == 201, reply
    rider["id"] = reply.json()["id"]
    reply = api.post(f"/riders/{rider['id']}/verify", token=admin["access"])
    assert reply.status == 200 and reply.json()["verified"] is True, reply
    reply = api.request("PATCH", "/riders/me", json_body={"available": True}, token=rider["access"])
    assert reply.status == 200 and reply.json()["available"] is True, reply
    report(api, rider, at)
    return rider


# -- orders ----------------------------------------------------------------------------------------


def order_of(api, token: str, order_id: int) -> dict:
    reply = api.get(f"/orders/{order_id}", token=token)
    assert reply.status == 200, reply
    return reply.json()


def wait_status(api, customer, order_id: int, status: str, timeout: float = 20) -> dict:
    return wait_for(
        lambda: (o := order_of(api, customer["access"], order_id))["status"] == status and o,
        timeout=timeout,
        message=f"order {order_id} to be {status}",
    )


def paid_order(api, kitchen, customer) -> dict:
    """An order to a door 1.5 km north of the restaurant, placed and paid."""
    door = north_of(kitchen["at"], 1.5)
    reply = api.post(
        "/orders",
        {
            "restaurant_id": kitchen["restaurant"]["id"],
            "items": [{"menu_item_id": kitchen["dish"]["id"], "quantity": 1}],
            "delivery_address": "10 Home St",
            "delivery_lat": door[0],
            "delivery_lon": door[1],
        },
        token=customer["access"],
    )
    assert reply.status == 201, reply
    order = reply.json()
    pay(api, customer, order)
    return order


def pay(api, customer, order: dict) -> None:
    """Pay `order` with the good card and wait until orders has it PAID."""
    reply = api.post(
        "/payments",
        {"order_id": order["id"], "card_number": GOOD_CARD},
        token=customer["access"],
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert reply.status in (200, 201), reply
    wait_status(api, customer, order["id"], "PAID")


def advance(api, kitchen, order: dict, *statuses: str) -> None:
    """The restaurant's owner moves the order through the kitchen's steps."""
    for status in statuses:
        reply = api.post(
            f"/orders/{order['id']}/status", {"status": status}, token=kitchen["owner"]["access"]
        )
        assert reply.status == 200 and reply.json()["status"] == status, reply


def ready_order(api, kitchen, customer) -> dict:
    order = paid_order(api, kitchen, customer)
    advance(api, kitchen, order, "ACCEPTED", "PREPARING", "READY")
    return order


def news(api, user: dict, order_id: int) -> list[str]:
    """The event types of the notifications `user` got about the order."""
    reply = api.get("/notifications", token=user["access"])
    assert reply.status == 200, reply
    return [
        n["event_type"]
        for n in reply.json()["results"]
        if re.search(rf"#{order_id}\b", n["subject"] + n["body"])
    ]


# -- deliveries ------------------------------------------------------------------------------------


def offers(api, rider) -> list[dict]:
    reply = api.get("/riders/me/offers", token=rider["access"])
    assert reply.status == 200, reply
    return reply.json()["results"]


def wait_offer(api, rider, timeout: float = 15) -> dict:
    (offer,) = wait_for(lambda: offers(api, rider), timeout=timeout, message="an offer")
    return offer


def delivery(api, token: str, delivery_id: int) -> dict:
    reply = api.get(f"/deliveries/{delivery_id}", token=token)
    assert reply.status == 200, reply
    return reply.json()


def step(api, rider, delivery_id: int, action: str, expected: str) -> dict:
    reply = api.post(f"/deliveries/{delivery_id}/{action}", token=rider["access"])
    assert reply.status == 200 and reply.json()["status"] == expected, reply
    return reply.json()


def wait_delivery(api, token, delivery_id: int, status: str, timeout: float = 20) -> dict:
    return wait_for(
        lambda: (d := delivery(api, token, delivery_id))["status"] == status and d,
        timeout=timeout,
        message=f"delivery {delivery_id} to be {status}",
    )


def near(position: dict, point: tuple[float, float]) -> bool:
    return abs(position["lat"] - point[0]) < 1e-4 and abs(position["lon"] - point[1]) < 1e-4
