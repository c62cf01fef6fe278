"""PUT /riders/me/location, the hot path: validation, rate, roles, Redis state, the durable flush."""

import asyncio
import json
import time

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from django_redis import get_redis_connection

from delivery import positions, services
from delivery.errors import LocationTooFrequent
from delivery.models import Rider
from delivery.tasks import flush_positions
from delivery.tests.factories import CUSTOMER, PICKUP, RIDER, RiderFactory, north_of
from food_common.live import user_group
from food_common.testing import OTHER_CUSTOMER

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/riders/me/location"


def put(client, body, **extra):
    return client.put(URL, body, format="json", **extra)


def available_riders(point=PICKUP, radius_km=50) -> list[int]:
    return [
        user_id
        for user_id, _ in positions.riders_near(
            lat=point[0], lon=point[1], radius_km=radius_km, count=100
        )
    ]


def dirty_riders() -> set[int]:
    return {int(m) for m in get_redis_connection().smembers(positions._dirty_key())}


def test_an_update_stores_the_live_position_and_touches_no_database(
    rider, django_assert_num_queries
):
    RiderFactory(user_id=RIDER)
    assert put(rider, {"lat": 52.5, "lon": 13.4}).status_code == 204  # state read once

    time.sleep(1.0)  # RIDER_LOCATION_MIN_INTERVAL
    with django_assert_num_queries(0):
        response = put(rider, {"lat": 52.51, "lon": 13.41})

    assert response.status_code == 204 and response.content == b""
    live = positions.rider_positions(user_ids=[RIDER])[RIDER]
    assert (live["lat"], live["lon"]) == (52.51, 13.41)
    assert available_riders(point=(52.51, 13.41), radius_km=1) == [RIDER]
    assert dirty_riders() == {RIDER}
    assert Rider.objects.get(user_id=RIDER).last_seen_at is None  # until the flush


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lat": "52.5", "lon": 13.4}, "lat"),
        ({"lat": 52.5, "lon": True}, "lon"),
        ({"lat": None, "lon": 13.4}, "lat"),
        ({"lat": 85.1, "lon": 13.4}, "lat"),
        ({"lat": -90, "lon": 13.4}, "lat"),
        ({"lat": 52.5, "lon": 180.01}, "lon"),
        ({"lat": 52.5, "lon": -181}, "lon"),
        ({"lat": 52.5, "lon": 10**400}, "lon"),
        ({"lat": [52.5], "lon": 13.4}, "lat"),
        ({"lon": 13.4}, "lat"),
        ({"lat": 52.5, "lon": 13.4, "speed": 3}, "speed"),
    ],
)
def test_impossible_coordinates_are_a_json_400_naming_the_field(rider, body, field):
    RiderFactory(user_id=RIDER)

    response = put(rider, body)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    assert available_riders() == []


@pytest.mark.parametrize("raw", ['{"lat": NaN, "lon": 1}', '{"lat": 1e400, "lon": 1}', "[1, 2]"])
def test_non_finite_numbers_and_non_objects_are_refused(rider, raw):
    RiderFactory(user_id=RIDER)

    response = rider.put(URL, raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] in {"invalid", "parse_error"}
    assert available_riders() == []


def test_updates_faster_than_the_interval_answer_429_with_retry_after(rider, settings):
    settings.RIDER_LOCATION_MIN_INTERVAL = 5.0
    RiderFactory(user_id=RIDER)
    assert put(rider, {"lat": 52.5, "lon": 13.4}).status_code == 204

    response = put(rider, {"lat": 52.6, "lon": 13.4})

    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "throttled" and 4 < body["retry_after"] <= 5
    assert response["Retry-After"] == "5"
    # The refused update changed nothing.
    assert positions.rider_positions(user_ids=[RIDER])[RIDER]["lat"] == 52.5


def test_the_interval_is_measured_from_the_last_accepted_update():
    RiderFactory(user_id=RIDER)
    now = time.time()
    positions.location_record(user_id=RIDER, lat=52.5, lon=13.4, now=now)

    with pytest.raises(LocationTooFrequent) as refused:
        positions.location_record(user_id=RIDER, lat=52.5, lon=13.4, now=now + 0.4)
    positions.location_record(user_id=RIDER, lat=52.6, lon=13.4, now=now + 1.0)

    assert refused.value.status_code == 429 and refused.value.wait == 1
    assert positions.rider_positions(user_ids=[RIDER])[RIDER]["lat"] == 52.6


def test_only_riders_may_report_a_position(customer, owner, admin, api_client):
    for client in (customer, owner, admin):
        response = put(client, {"lat": 52.5, "lon": 13.4})
        assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert put(api_client, {"lat": 52.5, "lon": 13.4}).status_code == 401


def test_a_rider_without_a_profile_gets_404_and_reaches_the_database_once(
    rider, django_assert_num_queries
):
    first = put(rider, {"lat": 52.5, "lon": 13.4})
    with django_assert_num_queries(0):
        second = put(rider, {"lat": 52.5, "lon": 13.4})

    assert first.status_code == second.status_code == 404
    assert second.json()["code"] == "rider_profile_missing"


def test_a_rider_not_verified_is_refused_until_an_admin_verifies_them(rider):
    profile = RiderFactory(user_id=RIDER, verified=False, available=False)

    refused = put(rider, {"lat": 52.5, "lon": 13.4})
    services.rider_verify(rider_id=profile.pk)  # written through to Redis
    accepted = put(rider, {"lat": 52.5, "lon": 13.4})

    assert refused.status_code == 403 and refused.json()["code"] == "rider_not_verified"
    assert accepted.status_code == 204


def test_only_available_riders_without_an_offer_or_delivery_are_in_the_available_set(
    rider, open_delivery, settings
):
    settings.RIDER_LOCATION_MIN_INTERVAL = 0
    RiderFactory(user_id=RIDER, available=False)

    put(rider, {"lat": PICKUP[0], "lon": PICKUP[1]})
    off_shift = available_riders()
    services.rider_update(user_id=RIDER, available=True)  # back at their last position at once
    on_shift = available_riders()
    offer = open_delivery(order_id=1).offers.get()  # the delivery is offered to them
    put(rider, {"lat": PICKUP[0], "lon": PICKUP[1]})
    with_offer = available_riders()
    services.offer_decline(delivery_id=offer.delivery_id, user_id=RIDER)
    after_declining = available_riders()

    assert (off_shift, on_shift, with_offer, after_declining) == ([], [RIDER], [], [RIDER])


def test_a_state_missing_from_redis_is_read_from_the_database_again(rider, settings):
    settings.RIDER_LOCATION_MIN_INTERVAL = 0
    RiderFactory(user_id=RIDER)
    put(rider, {"lat": 52.5, "lon": 13.4})
    in_line = available_riders()
    # The state expires (or Redis lost it) while the row changed without a write-through.
    get_redis_connection().delete(positions._state_key(RIDER))
    Rider.objects.filter(user_id=RIDER).update(available=False)

    assert put(rider, {"lat": 52.6, "lon": 13.4}).status_code == 204
    assert (in_line, available_riders()) == ([RIDER], [])


def test_the_flush_writes_the_last_positions_in_bulk_and_only_once(settings):
    settings.RIDER_LOCATION_MIN_INTERVAL = 0
    riders = [RiderFactory() for _ in range(3)]
    for index, each in enumerate(riders):
        positions.location_record(user_id=each.user_id, lat=52.0 + index, lon=13.0)
    reported = time.time()
    # The last one wins.
    positions.location_record(user_id=riders[0].user_id, lat=52.9, lon=13.9, now=reported)

    assert flush_positions() == 3
    assert flush_positions() == 0

    stored = {r.user_id: (r.last_lat, r.last_lon) for r in Rider.objects.all()}
    assert stored == {
        riders[0].user_id: (52.9, 13.9),
        riders[1].user_id: (53.0, 13.0),
        riders[2].user_id: (54.0, 13.0),
    }
    assert all(r.last_seen_at is not None for r in Rider.objects.all())
    seen = Rider.objects.get(pk=riders[0].pk).last_seen_at
    assert abs(seen.timestamp() - reported) < 1e-3, (seen, reported)
    assert dirty_riders() == set()
    positions.location_record(user_id=riders[1].user_id, lat=53.5, lon=13.0)
    assert dirty_riders() == {riders[1].user_id}


def test_the_flush_takes_riders_with_a_stale_position_out_of_the_available_set(working_rider):
    fresh = working_rider(north_of(PICKUP, 1))
    stale = RiderFactory()
    positions.rider_state_load(user_id=stale.user_id)
    positions.location_record(
        user_id=stale.user_id, lat=PICKUP[0], lon=PICKUP[1], now=time.time() - 150
    )
    available = get_redis_connection().zrange(positions._available_key(), 0, -1)

    flush_positions()

    assert sorted(int(m) for m in available) == sorted([fresh.user_id, stale.user_id])
    assert available_riders() == [fresh.user_id]  # a stale position is never used for dispatch
    assert get_redis_connection().zrange(positions._available_key(), 0, -1) == [
        str(fresh.user_id).encode()
    ]


def test_the_flush_puts_the_riders_back_when_the_update_fails(monkeypatch, working_rider):
    each = working_rider(PICKUP)

    def broken(*args, **kwargs):
        raise RuntimeError("database away")

    monkeypatch.setattr(positions, "_positions_write", broken)
    with pytest.raises(RuntimeError):
        flush_positions()

    assert dirty_riders() == {each.user_id}


def test_integer_coordinates_are_numbers_too(rider):
    RiderFactory(user_id=RIDER)
    response = rider.put(URL, json.dumps({"lat": 1, "lon": -1}), content_type="application/json")
    assert response.status_code == 204
    assert positions.rider_positions(user_ids=[RIDER])[RIDER]["lon"] == -1.0


def heard_by(user_ids: list[int], updates) -> dict[int, list[dict]]:
    """Run `updates` while listening to these users' live groups (the channel layer, on Redis);
    return what each heard."""

    async def listen():
        layer = get_channel_layer()
        channels = {}
        for user_id in user_ids:
            channels[user_id] = await layer.new_channel()
            await layer.group_add(user_group(user_id), channels[user_id])
        try:
            await sync_to_async(updates)()
        finally:
            await sync_to_async(connections.close_all)()
        heard = {}
        for user_id, channel in channels.items():
            heard[user_id] = []
            while True:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), 0.5)
                except TimeoutError:
                    break
                heard[user_id].append(message)
        return heard

    return asyncio.run(listen())


def test_a_rider_with_a_delivery_shows_the_customer_where_they_are_throttled(
    working_rider, open_delivery, settings
):
    settings.LIVE_POSITION_PUSH_SECONDS = 0.3
    settings.RIDER_LOCATION_MIN_INTERVAL = 0
    rider = working_rider(PICKUP)
    delivery = open_delivery(order_id=7)  # offered to the rider: no delivery of theirs yet

    def updates():
        positions.location_record(user_id=rider.user_id, lat=52.0, lon=13.0)  # offered only
        services.offer_accept(delivery_id=delivery.pk, user_id=rider.user_id)
        for lat in (52.1, 52.2, 52.3):  # one push, then the throttle
            positions.location_record(user_id=rider.user_id, lat=lat, lon=13.0)
        time.sleep(0.35)
        positions.location_record(user_id=rider.user_id, lat=52.4, lon=13.0)
        services.delivery_pickup(delivery_id=delivery.pk, user_id=rider.user_id)
        time.sleep(0.35)
        positions.location_record(user_id=rider.user_id, lat=52.5, lon=13.0)
        services.delivery_deliver(delivery_id=delivery.pk, user_id=rider.user_id)
        time.sleep(0.35)
        positions.location_record(user_id=rider.user_id, lat=52.6, lon=13.0)  # delivered

    heard = heard_by([CUSTOMER, OTHER_CUSTOMER, rider.user_id], updates)

    assert [m["type"] for m in heard[CUSTOMER]] == ["live.position"] * 3
    pushed = [m["message"] for m in heard[CUSTOMER]]
    assert [m["data"]["lat"] for m in pushed] == [52.1, 52.4, 52.5]
    assert {(m["type"], m["order_id"], m["delivery_id"]) for m in pushed} == {
        ("delivery.position", 7, delivery.pk)
    }
    assert heard[OTHER_CUSTOMER] == [] and heard[rider.user_id] == []


def test_with_position_pushes_off_nobody_is_told(working_rider, open_delivery, settings):
    settings.LIVE_POSITION_PUSH_SECONDS = 0
    rider = working_rider(PICKUP)
    delivery = open_delivery(order_id=7)

    def updates():
        services.offer_accept(delivery_id=delivery.pk, user_id=rider.user_id)
        positions.location_record(user_id=rider.user_id, lat=52.1, lon=13.0, now=time.time() + 5)

    assert heard_by([CUSTOMER], updates) == {CUSTOMER: []}
