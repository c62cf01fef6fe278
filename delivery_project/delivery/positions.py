"""Live rider positions and dispatch state in Redis: the hot path of the whole system.

Working riders report their position every few seconds (`PUT /riders/me/location`), the bulk of all
requests. Each update is one Redis round trip (a Lua script) and no database access: the script
checks the rate (RIDER_LOCATION_MIN_INTERVAL), reads the rider's dispatch state, stores the
position, and keeps the rider in the set of available riders (a Redis GEO set) only while they can
take an offer. The riders' rows get the positions in bulk every RIDER_POSITION_FLUSH_SECONDS
(`positions_flush`, a periodic task), so the durable record costs one UPDATE per flush, not one
write per update.

Why Redis GEO rather than PostGIS: it needs no database extension (the machine's PostgreSQL, the
embedded one of `make up` and the managed ones need nothing installed); a nearest-rider search is
GEOSEARCH on a sorted set of geohashes, O(log N + M) for N riders and M found, at tens of
thousands of riders as cheap as at ten; and an update is an in-memory write, where a PostGIS
position would be a row UPDATE (WAL, index maintenance, vacuum) every few seconds per rider.
What Redis holds is a cache of what the riders last said: losing it loses at most the last flush
interval of positions, which the riders' next updates replace within seconds.

Keys, made with the cache's key function (under its KEY_PREFIX: `delivery:1:` in production, unique
per test in the tests), each rider by their auth user id:

    rider:<user id>:state  hash id (Rider pk, 0 for no profile), verified, available, busy,
                           and the delivery they have (ASSIGNED or PICKED_UP: delivery, its
                           customer and order ids; 0 for none); TTL RIDER_STATE_TTL_SECONDS,
                           then read from the database again
    rider:<user id>:pos    hash id, lat, lon, at (epoch seconds); TTL one day
    rider:<user id>:pushed set (NX) when the rider's position was pushed to the customer of their
                           delivery; expires after LIVE_POSITION_PUSH_SECONDS
    riders:available       GEO set of the riders who can take an offer now (verified, available,
                           no pending offer or active delivery), at their last position
    riders:seen            sorted set: rider → time of their last update (freshness for dispatch)
    riders:dirty           set: riders whose last position their row does not have yet

The dispatch state is written through by every service function that changes it, once its
transaction has committed (`rider_state_refresh`); the TTL bounds how long a write-through lost
to a Redis outage can mislead the hot path. Dispatch never trusts the GEO set alone: it checks
each candidate in the database, under a row lock, before offering.

While a rider has a delivery, the customer watches them come: the update pushes the position to
the customer's open WebSockets (food_common.live), at most once every LIVE_POSITION_PUSH_SECONDS
per rider (a SET NX PX in the same script, so the throttle costs no round trip of its own).
Positions are not events: no outbox row, no id, never sent again; the latest one is in
`GET /deliveries/{id}`.
"""

import logging
import time
from datetime import UTC, datetime
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django_redis import get_redis_connection
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from delivery.errors import LocationTooFrequent, RiderNotVerified, RiderProfileMissing
from delivery.models import ACTIVE_STATUSES, Delivery, DeliveryOffer, OfferStatus, Rider
from food_common.live import push_to_user

logger = logging.getLogger(__name__)

REDIS_ERRORS = (RedisError, ConnectionInterrupted, OSError)
POSITION_TTL_SECONDS = 24 * 3600

# KEYS: state, pos, available, seen, dirty, pushed; ARGV: user id, lon, lat, now, min interval,
# pos TTL, push interval in ms (0: never). Returns {"ok", "1"|"0" (dispatchable)} with, when the
# position is to be pushed, the delivery, customer and order ids; {"too_fast", seconds to wait},
# {"miss"} (no state: read it from the database, then call again), {"no_profile"} or
# {"not_verified"}.
LOCATION_UPDATE = """
local state = redis.call('HMGET', KEYS[1], 'id', 'verified', 'available', 'busy', 'delivery',
  'customer', 'order')
if not state[1] then return {'miss'} end
if state[1] == '0' then return {'no_profile'} end
if state[2] ~= '1' then return {'not_verified'} end
local now = tonumber(ARGV[4])
local last = tonumber(redis.call('HGET', KEYS[2], 'at'))
if last and now - last < tonumber(ARGV[5]) and now >= last then
  return {'too_fast', tostring(tonumber(ARGV[5]) - (now - last))}
end
redis.call('HSET', KEYS[2], 'id', state[1], 'lat', ARGV[3], 'lon', ARGV[2], 'at', ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[4], now, ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
local dispatchable = '0'
if state[3] == '1' and state[4] == '0' then
  redis.call('GEOADD', KEYS[3], ARGV[2], ARGV[3], ARGV[1])
  dispatchable = '1'
else
  redis.call('ZREM', KEYS[3], ARGV[1])
end
if state[5] and state[5] ~= '0' and ARGV[7] ~= '0'
    and redis.call('SET', KEYS[6], '1', 'NX', 'PX', ARGV[7]) then
  return {'ok', dispatchable, state[5], state[6], state[7]}
end
return {'ok', dispatchable}
"""

# KEYS: state, pos, available; ARGV: rider id (0: no profile), verified, available, busy, TTL,
# user id, delivery, customer, order (0s: none). Writes the state and puts the rider in the
# available set at their last position, or takes them out of it.
STATE_WRITE = """
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'verified', ARGV[2], 'available', ARGV[3], 'busy', ARGV[4],
  'delivery', ARGV[7], 'customer', ARGV[8], 'order', ARGV[9])
redis.call('EXPIRE', KEYS[1], ARGV[5])
if ARGV[2] == '1' and ARGV[3] == '1' and ARGV[4] == '0' then
  local pos = redis.call('HMGET', KEYS[2], 'lon', 'lat')
  if pos[1] then redis.call('GEOADD', KEYS[3], pos[1], pos[2], ARGV[6]) end
else
  redis.call('ZREM', KEYS[3], ARGV[6])
end
return 1
"""


def _client():
    return get_redis_connection("default")


@lru_cache(maxsize=16)
def _script(client, source: str):
    """Return `source` registered on `client` (redis-py runs it with EVALSHA, loading it once)."""
    return client.register_script(source)


def _run(source: str, keys: list, args: list) -> list:
    client = _client()
    return _script(client, source)(keys=keys, args=args, client=client)


def _state_key(user_id: int) -> str:
    return cache.make_key(f"rider:{user_id}:state")


def _pos_key(user_id: int) -> str:
    return cache.make_key(f"rider:{user_id}:pos")


def _available_key() -> str:
    return cache.make_key("riders:available")


def _seen_key() -> str:
    return cache.make_key("riders:seen")


def _dirty_key() -> str:
    return cache.make_key("riders:dirty")


def _pushed_key(user_id: int) -> str:
    return cache.make_key(f"rider:{user_id}:pushed")


# -- the hot path -------------------------------------------------------------------------------


class RiderStateMissing(Exception):
    """Redis holds no dispatch state of the rider (location_record with load_missing=False)."""


def location_record(
    *, user_id: int, lat: float, lon: float, now: float | None = None, load_missing: bool = True
) -> bool:
    """Store a rider's reported position; return True if they can be offered a delivery now.

    Raise RiderProfileMissing (404), RiderNotVerified (403) or LocationTooFrequent (429). One
    Redis round trip, two (and one database read) when the rider's state is not in Redis, or,
    with `load_missing=False`, RiderStateMissing then (nothing stored). A rider with a delivery
    pushes the position to its customer (throttled, not waited for).
    """
    now = time.time() if now is None else now
    keys = [
        _state_key(user_id),
        _pos_key(user_id),
        _available_key(),
        _seen_key(),
        _dirty_key(),
        _pushed_key(user_id),
    ]
    args = [
        user_id,
        repr(lon),
        repr(lat),
        repr(now),
        settings.RIDER_LOCATION_MIN_INTERVAL,
        POSITION_TTL_SECONDS,
        int(settings.LIVE_POSITION_PUSH_SECONDS * 1000),
    ]
    answer = _run(LOCATION_UPDATE, keys, args)
    if answer[0] == b"miss":
        if not load_missing:
            raise RiderStateMissing(user_id)
        rider_state_load(user_id=user_id)
        answer = _run(LOCATION_UPDATE, keys, args)
    outcome = answer[0]
    if outcome == b"ok":
        if len(answer) == 5:
            delivery_id, customer_id, order_id = (int(value) for value in answer[2:])
            push_to_user(
                customer_id,
                {
                    "type": "live.position",
                    "message": position_message(
                        delivery_id=delivery_id, order_id=order_id, lat=lat, lon=lon, at=now
                    ),
                },
            )
        return answer[1] == b"1"
    if outcome == b"too_fast":
        raise LocationTooFrequent(float(answer[1]))
    if outcome == b"not_verified":
        raise RiderNotVerified()
    if outcome == b"no_profile":
        raise RiderProfileMissing()
    raise RuntimeError(f"unexpected answer of the location script: {answer!r}")


def position_message(*, delivery_id: int, order_id: int, lat: float, lon: float, at: float) -> dict:
    """Return what a customer's WebSocket is told of their rider's position (no id: never resent;
    the message shapes are the notifications app's, orders_project/notifications/live.py)."""
    return {
        "type": "delivery.position",
        "order_id": order_id,
        "delivery_id": delivery_id,
        "at": datetime.fromtimestamp(at, UTC).isoformat(),
        "data": {"lat": lat, "lon": lon},
    }


# -- the dispatch state -------------------------------------------------------------------------


def rider_is_busy(rider_id: int) -> bool:
    """Return True if the rider holds an active delivery or a pending offer (database truth)."""
    return (
        Delivery.objects.filter(rider_id=rider_id, status__in=ACTIVE_STATUSES).exists()
        or DeliveryOffer.objects.filter(rider_id=rider_id, status=OfferStatus.PENDING).exists()
    )


def rider_state_load(*, user_id: int) -> None:
    """Write a rider's dispatch state, read from the database, to Redis."""
    rider = Rider.objects.filter(user_id=user_id).values("id", "verified", "available").first()
    delivery = (0, 0, 0)
    if rider is None:
        # Remembered too, so a rider without a profile does not reach the database every update.
        values = (0, 0, 0, 0)
    else:
        active = (
            Delivery.objects.filter(rider_id=rider["id"], status__in=ACTIVE_STATUSES)
            .values_list("id", "customer_id", "order_id")
            .first()
        )
        busy = (
            active is not None
            or DeliveryOffer.objects.filter(
                rider_id=rider["id"], status=OfferStatus.PENDING
            ).exists()
        )
        values = (rider["id"], int(rider["verified"]), int(rider["available"]), int(busy))
        delivery = active or delivery
    _run(
        STATE_WRITE,
        [_state_key(user_id), _pos_key(user_id), _available_key()],
        [*values, settings.RIDER_STATE_TTL_SECONDS, user_id, *delivery],
    )


def rider_state_refresh(*, user_id: int) -> None:
    """Write the rider's dispatch state to Redis once the current transaction commits.

    Called by every service function that changes it (profile, verification, availability,
    offers, deliveries). If Redis is away, the state it holds expires within
    RIDER_STATE_TTL_SECONDS; dispatch checks the database anyway.
    """

    def write() -> None:
        try:
            rider_state_load(user_id=user_id)
        except REDIS_ERRORS as exc:
            logger.warning("rider %s: dispatch state not written to Redis: %s", user_id, exc)

    transaction.on_commit(write)


# -- reads for dispatch and display -------------------------------------------------------------


def riders_near(*, lat: float, lon: float, radius_km: float, count: int) -> list[tuple[int, float]]:
    """Return (user id, distance in km) of the available riders with a fresh position within
    `radius_km` of (lat, lon), nearest first, at most `count` looked at."""
    client = _client()
    found = client.geosearch(
        _available_key(),
        longitude=lon,
        latitude=lat,
        radius=radius_km,
        unit="km",
        sort="ASC",
        count=count,
        withdist=True,
    )
    if not found:
        return []
    seen = client.zmscore(_seen_key(), [member for member, _ in found])
    fresh_after = time.time() - settings.RIDER_POSITION_STALE_SECONDS
    return [
        (int(member), float(distance))
        for (member, distance), at in zip(found, seen, strict=True)
        if at is not None and at >= fresh_after
    ]


def rider_positions(*, user_ids: list[int]) -> dict[int, dict]:
    """Return the last reported position {lat, lon, at} of each rider Redis knows, by user id."""
    pipe = _client().pipeline(transaction=False)
    for user_id in user_ids:
        pipe.hmget(_pos_key(user_id), "lat", "lon", "at")
    return {
        user_id: {
            "lat": float(lat),
            "lon": float(lon),
            "at": datetime.fromtimestamp(float(at), UTC),
        }
        for user_id, (lat, lon, at) in zip(user_ids, pipe.execute(), strict=True)
        if lat is not None and lon is not None and at is not None
    }


def riders_available_count() -> int:
    """Return how many riders are in the available set (some may have a stale position)."""
    return _client().zcard(_available_key())


# -- the durable record -------------------------------------------------------------------------


def positions_flush(*, batch: int = 1000) -> int:
    """Write the last positions of the riders marked dirty to their rows; return how many.

    The dirty set is popped before the positions are read, so an update that arrives meanwhile
    marks its rider again for the next flush; a failed UPDATE puts the popped riders back. Also
    takes the riders whose position went stale since the last flushes out of the available set
    (dispatch skips stale positions anyway; this keeps the set and its metric true), and forgets
    riders not heard from for a day.
    """
    client = _client()
    flushed = 0
    while True:
        user_ids = client.spop(_dirty_key(), batch)
        if not user_ids:
            break
        pipe = client.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.hmget(_pos_key(int(user_id)), "id", "lat", "lon", "at")
        rows = [
            (int(rider_id), float(lat), float(lon), float(at))
            for rider_id, lat, lon, at in pipe.execute()
            if rider_id is not None and lat is not None and at is not None
        ]
        try:
            _positions_write(rows)
        except Exception:
            client.sadd(_dirty_key(), *user_ids)
            raise
        flushed += len(rows)
        if len(user_ids) < batch:
            break
    # The riders who went silent since the last few flushes (older ones were taken out then).
    stale_before = time.time() - settings.RIDER_POSITION_STALE_SECONDS
    window = max(60.0, 6 * settings.RIDER_POSITION_FLUSH_SECONDS)
    stale = client.zrangebyscore(_seen_key(), stale_before - window, stale_before)
    if stale:
        client.zrem(_available_key(), *stale)
    client.zremrangebyscore(_seen_key(), "-inf", time.time() - POSITION_TTL_SECONDS)
    return flushed


def _positions_write(rows: list[tuple[int, float, float, float]]) -> None:
    """Write (rider id, lat, lon, epoch seconds) rows to the riders' rows in one UPDATE.

    Plain SQL rather than `bulk_update`: that builds a CASE WHEN expression per row and field,
    which cost the delivery worker more CPU per location update than the update itself
    (bench/README.md, "Changes and their effect"); this sends four arrays and lets PostgreSQL join them.
    """
    if not rows:
        return
    ids, lats, lons, ats = (list(column) for column in zip(*rows, strict=True))
    meta = Rider._meta
    lat, lon, seen = (
        meta.get_field(name).column for name in ("last_lat", "last_lon", "last_seen_at")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {meta.db_table} AS rider"  # noqa: S608 - names from the model, values as parameters
            f" SET {lat} = new.lat, {lon} = new.lon, {seen} = to_timestamp(new.at)"
            " FROM unnest(%s::bigint[], %s::float8[], %s::float8[], %s::float8[])"
            " AS new(id, lat, lon, at)"
            f" WHERE rider.{meta.pk.column} = new.id",
            [ids, lats, lons, ats],
        )
