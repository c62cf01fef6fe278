"""Delivery end to end: riders, dispatch and the last mile, through the gateway, real processes.

Every test works in a city of its own, a restaurant and its riders about 55 km from any other
test's, so the riders other tests left on shift are never within its search radius. The stack runs
the delivery processes with short dispatch timings (tests/stack.py, DELIVERY_TIMINGS): an offer
lasts 3 s, the radius grows from 3 km by 2 km a second up to 9 km, a search gives up after 6 s.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.client import open_kitchen, unique, wait_for, waits_on_lock
from tests.last_mile import (
    ACTIVE,
    GIVE_UP_SECONDS,
    MAX_RADIUS_KM,
    OFFER_SECONDS,
    advance,
    delivery,
    near,
    new_city,
    news,
    north_of,
    offers,
    order_of,
    paid_order,
    ready_order,
    report,
    step,
    wait_delivery,
    wait_offer,
    wait_status,
    working_rider,
)

# -- the tests -------------------------------------------------------------------------------------


def test_a_ready_order_goes_to_the_nearest_rider_who_brings_it_to_the_door(api, admin, customer):
    city = new_city()
    kitchen = open_kitchen(api, city)
    nearest = working_rider(api, admin, north_of(city, 0.5), vehicle="scooter")
    farther = working_rider(api, admin, north_of(city, 2.0))

    # When the restaurant marks the paid order READY
    order = ready_order(api, kitchen, customer)

    # Then the nearest rider is offered its delivery, and only they
    offer = wait_offer(api, nearest)
    assert offers(api, farther) == []
    assert offer["pickup"] == {"lat": city[0], "lon": city[1]}
    assert offer["distance_km"] == pytest.approx(0.5, abs=0.05)
    delivery_id = offer["delivery_id"]

    # When they accept, the customer sees who is coming and where they are; nobody else does
    step(api, nearest, delivery_id, "accept", "ASSIGNED")
    seen = delivery(api, customer["access"], delivery_id)
    assert seen["rider"] == {"name": nearest["name"], "vehicle_type": "scooter"}
    assert near(seen["rider_position"], nearest["at"])
    stranger = api.register_and_login(unique("stranger"))
    assert api.get(f"/deliveries/{delivery_id}", token=stranger["access"]).status == 404
    assert api.get(f"/deliveries/{delivery_id}", token=farther["access"]).status == 404
    detail = wait_for(
        lambda: (
            (o := order_of(api, customer["access"], order["id"]))["delivery"]
            and o["delivery"]["status"] == "ASSIGNED"
            and o
        ),
        message="the order to show its rider",
    )
    assert detail["status"] == "READY"
    assert detail["delivery"]["id"] == delivery_id
    assert detail["delivery"]["rider"] == {"name": nearest["name"], "vehicle_type": "scooter"}
    assert near(detail["delivery"]["position"], nearest["at"])

    # When they pick it up and ride on, the order is OUT_FOR_DELIVERY and follows them
    step(api, nearest, delivery_id, "pickup", "PICKED_UP")
    wait_status(api, customer, order["id"], "OUT_FOR_DELIVERY")
    report(api, nearest, north_of(city, 1.0))
    moving = order_of(api, customer["access"], order["id"])["delivery"]
    assert (moving["status"], near(moving["position"], nearest["at"])) == ("PICKED_UP", True)

    # When they hand it over, the order is DELIVERED, and the rider no longer shown
    step(api, nearest, delivery_id, "deliver", "DELIVERED")
    done = wait_status(api, customer, order["id"], "DELIVERED")
    assert [h["to_status"] for h in done["status_history"]][-3:] == [
        "READY",
        "OUT_FOR_DELIVERY",
        "DELIVERED",
    ]
    assert done["delivery"]["status"] == "DELIVERED"
    assert done["delivery"]["position"] is None
    assert delivery(api, customer["access"], delivery_id)["rider_position"] is None

    # And the customer was told each step of the way
    wait_for(
        lambda: (
            {"delivery.assigned", "delivery.picked_up", "delivery.delivered"}
            <= set(news(api, customer, order["id"]))
        ),
        message="the customer's delivery notifications",
    )


def test_an_offer_nobody_answers_goes_to_the_next_rider(api, admin, customer):
    city = new_city()
    kitchen = open_kitchen(api, city)
    silent = working_rider(api, admin, north_of(city, 0.3))
    next_one = working_rider(api, admin, north_of(city, 1.0))
    order = ready_order(api, kitchen, customer)

    # Given the nearest rider is offered the delivery and does not answer
    first = wait_offer(api, silent)
    assert offers(api, next_one) == []
    # Then, once the offer expires, the next rider has it
    second = wait_offer(api, next_one, timeout=OFFER_SECONDS + 5)
    assert second["delivery_id"] == first["delivery_id"]
    assert offers(api, silent) == []
    late = api.post(f"/deliveries/{first['delivery_id']}/accept", token=silent["access"])
    assert late.status == 409 and late.json()["code"] in ("offer_not_pending", "offer_expired")
    step(api, next_one, second["delivery_id"], "accept", "ASSIGNED")

    # The admin's view has both offers in order, and the rider it went to
    seen = delivery(api, admin["access"], second["delivery_id"])
    assert [(o["rider_id"], o["status"]) for o in seen["offers"]] == [
        (silent["id"], "EXPIRED"),
        (next_one["id"], "ACCEPTED"),
    ]
    assert seen["rider"]["name"] == next_one["name"]
    assert order_of(api, customer["access"], order["id"])["status"] == "READY"


def test_with_nobody_in_range_the_delivery_is_unassigned_told_and_assigned_by_an_admin(
    api, admin, customer
):
    city = new_city()
    kitchen = open_kitchen(api, city)
    beyond = working_rider(api, admin, north_of(city, MAX_RADIUS_KM + 3))

    # When the order is READY with the only rider on shift beyond the largest radius
    order = ready_order(api, kitchen, customer)
    opened = wait_for(
        lambda: api.get(f"/deliveries?order_id={order['id']}", token=customer["access"]).json()[
            "results"
        ],
        message="the delivery",
    )[0]

    # Then, after the search gives up, it is UNASSIGNED, and the customer and the owner are told
    unassigned = wait_delivery(
        api, customer["access"], opened["id"], "UNASSIGNED", timeout=GIVE_UP_SECONDS + 10
    )
    assert unassigned["rider"] is None
    assert offers(api, beyond) == []
    wait_for(
        lambda: "delivery.unassigned" in news(api, customer, order["id"]),
        message="the customer told",
    )
    wait_for(
        lambda: "delivery.unassigned" in news(api, kitchen["owner"], order["id"]),
        message="the owner told",
    )
    assert order_of(api, customer["access"], order["id"])["delivery"]["status"] == "UNASSIGNED"

    # An admin assigns it by hand to the rider beyond the radius, who delivers it
    reply = api.post(
        f"/deliveries/{opened['id']}/assign", {"rider_id": beyond["id"]}, token=admin["access"]
    )
    assert reply.status == 200 and reply.json()["status"] == "ASSIGNED", reply
    step(api, beyond, opened["id"], "pickup", "PICKED_UP")
    step(api, beyond, opened["id"], "deliver", "DELIVERED")
    wait_status(api, customer, order["id"], "DELIVERED")


def test_a_cancel_before_pickup_frees_the_rider_and_after_pickup_only_an_admin_cancels(
    api, admin, customer
):
    city = new_city()
    kitchen = open_kitchen(api, city)
    rider = working_rider(api, admin, north_of(city, 0.4))

    # Given the rider has accepted the delivery of a ready order
    first = ready_order(api, kitchen, customer)
    first_delivery = wait_offer(api, rider)["delivery_id"]
    step(api, rider, first_delivery, "accept", "ASSIGNED")

    # When the order is cancelled before the pickup (the restaurant's owner may, at READY)
    reply = api.post(
        f"/orders/{first['id']}/cancel",
        {"reason": "out of stock"},
        token=kitchen["owner"]["access"],
    )
    assert reply.status == 200 and reply.json()["status"] == "CANCELLED", reply

    # Then the delivery is cancelled, the rider is told, and, free again, is offered the next one
    wait_delivery(api, admin["access"], first_delivery, "CANCELLED")
    wait_for(
        lambda: "delivery.cancelled" in news(api, rider, first["id"]),
        timeout=15,
        message="the rider's notice of the cancellation",
    )
    refused = api.post(f"/deliveries/{first_delivery}/pickup", token=rider["access"])
    assert refused.status in (404, 409), refused
    second = ready_order(api, kitchen, customer)
    second_delivery = wait_offer(api, rider)["delivery_id"]
    assert second_delivery != first_delivery
    step(api, rider, second_delivery, "accept", "ASSIGNED")
    step(api, rider, second_delivery, "pickup", "PICKED_UP")
    wait_status(api, customer, second["id"], "OUT_FOR_DELIVERY")

    # When the food is on its way, the customer (and the owner) can no longer cancel: 409
    for who in (customer, kitchen["owner"]):
        reply = api.post(f"/orders/{second['id']}/cancel", {}, token=who["access"])
        assert reply.status == 409, reply
    assert delivery(api, admin["access"], second_delivery)["status"] == "PICKED_UP"
    # ... but an admin can, which cancels the delivery too
    reply = api.post(f"/orders/{second['id']}/cancel", {}, token=admin["access"])
    assert reply.status == 200 and reply.json()["status"] == "CANCELLED", reply
    wait_delivery(api, admin["access"], second_delivery, "CANCELLED")


def test_an_admin_giving_an_offered_delivery_to_another_rider_tells_the_one_offered(
    api, admin, customer
):
    city = new_city()
    kitchen = open_kitchen(api, city)
    offered = working_rider(api, admin, north_of(city, 0.3))
    chosen = working_rider(api, admin, north_of(city, 1.0))

    # Given the nearest rider holds the offer of a ready order's delivery
    order = ready_order(api, kitchen, customer)
    delivery_id = wait_offer(api, offered)["delivery_id"]

    # When an admin gives the delivery to another rider by hand
    reply = api.post(
        f"/deliveries/{delivery_id}/assign", {"rider_id": chosen["id"]}, token=admin["access"]
    )
    assert reply.status == 200 and reply.json()["rider"]["name"] == chosen["name"], reply

    # Then the offer is gone, and the rider who had it is told why
    assert offers(api, offered) == []
    notice = wait_for(
        lambda: [
            n
            for n in api.get("/notifications", token=offered["access"]).json()["results"]
            if n["event_type"] == "delivery.assigned" and f"#{order['id']}" in n["subject"]
        ],
        timeout=15,
        message="the offered rider's notice",
    )[0]
    assert "given to another rider" in notice["body"]
    step(api, chosen, delivery_id, "pickup", "PICKED_UP")


def _rider_at_work(api, rider, stop: threading.Event, seen: dict) -> None:
    """Take every offer: accept, pick up, deliver; record what the rider was offered at once."""
    while not stop.is_set():
        mine = offers(api, rider)
        seen["most_offers_at_once"] = max(seen["most_offers_at_once"], len(mine))
        for offer in mine:
            reply = api.post(f"/deliveries/{offer['delivery_id']}/accept", token=rider["access"])
            if reply.status != 200:
                continue  # expired meanwhile: it went to the next rider
            step(api, rider, offer["delivery_id"], "pickup", "PICKED_UP")
            step(api, rider, offer["delivery_id"], "deliver", "DELIVERED")
            seen["delivered"].append(offer["delivery_id"])
        time.sleep(0.2)


def _overlaps(intervals: list[tuple]) -> list[tuple]:
    """The pairs of (start, end) intervals, end None meaning open, that overlap."""
    ordered = sorted(intervals, key=lambda i: i[0])
    return [
        (a, b) for a, b in zip(ordered, ordered[1:], strict=False) if a[1] is None or b[0] < a[1]
    ]


def test_twenty_orders_ready_at_once_never_give_one_of_five_riders_two(api, stack, admin, customer):
    city = new_city()
    kitchen = open_kitchen(api, city)
    riders = [working_rider(api, admin, north_of(city, 0.3 + 0.2 * i)) for i in range(5)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        orders = list(pool.map(lambda _: paid_order(api, kitchen, customer), range(20)))
        list(pool.map(lambda o: advance(api, kitchen, o, "ACCEPTED", "PREPARING"), orders))
    for rider in riders:  # fresh positions for the dispatch below
        report(api, rider, rider["at"])
    order_ids = {o["id"] for o in orders}

    stop = threading.Event()
    seen = [{"most_offers_at_once": 0, "delivered": []} for _ in riders]
    snapshots = []

    def watch():
        # One page of the owner's deliveries is one query: a consistent picture of who holds what.
        while not stop.is_set():
            page = api.get("/deliveries", token=kitchen["owner"]["access"]).json()["results"]
            snapshots.append([(d["status"], (d["rider"] or {}).get("name")) for d in page])
            time.sleep(0.2)

    with ThreadPoolExecutor(max_workers=len(riders) + 1) as crew:
        working = [
            crew.submit(_rider_at_work, api, r, stop, s) for r, s in zip(riders, seen, strict=True)
        ]
        watcher = crew.submit(watch)
        try:
            # When the kitchen marks all twenty READY at once
            with ThreadPoolExecutor(max_workers=20) as pool:
                list(pool.map(lambda o: advance(api, kitchen, o, "READY"), orders))

            # Then every one gets a delivery, which ends delivered or, nobody free in time,
            # unassigned
            def settled():
                for future in working:  # a rider's failed step fails the test now
                    if future.done():
                        future.result()
                page = api.get("/deliveries", token=kitchen["owner"]["access"]).json()
                return (
                    page["count"] == 20
                    and all(d["status"] in ("DELIVERED", "UNASSIGNED") for d in page["results"])
                    and page["results"]
                )

            final = wait_for(
                settled, timeout=GIVE_UP_SECONDS + 60, message="every delivery settled"
            )
        finally:
            stop.set()
        for future in (*working, watcher):
            future.result()  # a rider's failed step fails the test

    assert {d["order_id"] for d in final} == order_ids
    # No rider was ever seen holding two deliveries, or offered two at once
    for snapshot in snapshots:
        holders = [name for status, name in snapshot if status in ACTIVE]
        assert len(holders) == len(set(holders)), snapshot
    assert all(s["most_offers_at_once"] <= 1 for s in seen), seen
    # Every rider delivered (each was offered one of the first five), and no delivery twice
    delivered = [d for s in seen for d in s["delivered"]]
    assert all(s["delivered"] for s in seen), seen
    assert len(delivered) == len(set(delivered))
    assert sorted(delivered) == sorted(d["id"] for d in final if d["status"] == "DELIVERED")

    # The database agrees: per rider, the times holding a delivery or an offer never overlap
    with psycopg.connect(stack.dsn("delivery")) as conn:
        held = conn.execute(
            "SELECT rider_id, assigned_at, coalesce(delivered_at, cancelled_at) FROM"
            " delivery_delivery WHERE order_id = ANY(%s) AND rider_id IS NOT NULL",
            [list(order_ids)],
        ).fetchall()
        offered = conn.execute(
            "SELECT o.rider_id, o.offered_at, o.answered_at FROM delivery_deliveryoffer o"
            " JOIN delivery_delivery d ON d.id = o.delivery_id WHERE d.order_id = ANY(%s)",
            [list(order_ids)],
        ).fetchall()
    assert len(held) == len(delivered)
    for rider in riders:
        mine = [(start, end) for rider_id, start, end in held if rider_id == rider["id"]]
        assert _overlaps(mine) == [], rider["id"]
        pending = [(start, end) for rider_id, start, end in offered if rider_id == rider["id"]]
        assert _overlaps(pending) == [], rider["id"]
        # and no offer reached a rider while they held a delivery
        for start, _ in pending:
            holding = [h for h in mine if h[0] < start and (h[1] is None or start < h[1])]
            assert holding == [], (rider["id"], start)


def test_the_delivery_worker_killed_mid_dispatch_loses_no_delivery_and_doubles_none(
    api, stack, admin, customer
):
    city = new_city()
    kitchen = open_kitchen(api, city)
    rider = working_rider(api, admin, north_of(city, 0.6))
    order = paid_order(api, kitchen, customer)
    advance(api, kitchen, order, "ACCEPTED", "PREPARING")

    # Given the offers table locked, so that dispatching blocks in the middle of its transaction
    worker = stack.worker("delivery")
    with (
        psycopg.connect(stack.dsn("delivery")) as conn,
        psycopg.connect(stack.dsn("delivery"), autocommit=True) as watcher,
    ):
        conn.execute("LOCK TABLE delivery_deliveryoffer IN EXCLUSIVE MODE")
        advance(api, kitchen, order, "READY")
        # ... and the worker has opened the delivery and waits to offer it
        wait_for(
            lambda: waits_on_lock(watcher, "delivery_deliveryoffer"),
            timeout=15,
            message="the worker to block mid-dispatch",
        )
        # When the worker is killed there
        worker.kill()
        conn.rollback()
    reply = api.get(f"/deliveries?order_id={order['id']}", token=admin["access"])
    assert reply.status == 200 and reply.json()["count"] == 0, reply  # nothing was committed

    # Then a new worker gets `order.ready` again (visibility timeout) and dispatches it once
    stack.start_worker("delivery")
    offer = wait_offer(api, rider, timeout=45)
    step(api, rider, offer["delivery_id"], "accept", "ASSIGNED")
    time.sleep(2)  # a second delivery or offer would show by now
    with psycopg.connect(stack.dsn("delivery")) as conn:
        deliveries = conn.execute(
            "SELECT id FROM delivery_delivery WHERE order_id = %s", [order["id"]]
        ).fetchall()
        offers_made = conn.execute(
            "SELECT count(*) FROM delivery_deliveryoffer WHERE delivery_id = %s",
            [offer["delivery_id"]],
        ).fetchone()[0]
        assigned_events = conn.execute(
            "SELECT count(*) FROM events_outboxevent WHERE type = 'delivery.assigned'"
            " AND (data->>'delivery_id')::bigint = %s",
            [offer["delivery_id"]],
        ).fetchone()[0]
    assert deliveries == [(offer["delivery_id"],)]
    assert (offers_made, assigned_events) == (1, 1)
    shown = wait_for(
        lambda: (
            (o := order_of(api, customer["access"], order["id"]))["delivery"]
            and o["delivery"]["status"] == "ASSIGNED"
            and o
        ),
        message="the order to show its rider",
    )
    assert shown["delivery"]["rider"]["name"] == rider["name"]
