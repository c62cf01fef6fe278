"""Settings of the delivery service (port 4005): riders, their live positions, dispatch, the last mile."""

from django.core.exceptions import ImproperlyConfigured

from food_common.env import env_float, env_int
from food_common.settings_base import *  # noqa: F403
from food_common.settings_base import (
    INSTALLED_APPS,
    READY_CHECKS_WITH_BROKER,
    beat_entry,
    event_signing_settings,
    live_updates_settings,
    outbox_purge,
    outbox_sweep,
    service_settings,
)

globals().update(service_settings("delivery", database="food_delivery"))
globals().update(event_signing_settings())  # it publishes and consumes events
globals().update(live_updates_settings())  # it pushes riders' positions to their customers

INSTALLED_APPS = [*INSTALLED_APPS, "food_common.events", "delivery"]

READY_CHECKS = READY_CHECKS_WITH_BROKER

# -- rider positions (delivery.positions) ------------------------------------------------------
# Seconds a rider's location updates must be apart; a faster one answers 429 with Retry-After.
RIDER_LOCATION_MIN_INTERVAL = env_float("RIDER_LOCATION_MIN_INTERVAL", 1.0)
# A position older than this is not used for dispatch (the rider's app has stopped reporting).
RIDER_POSITION_STALE_SECONDS = env_float("RIDER_POSITION_STALE_SECONDS", 120.0)
# How often the positions in Redis are written to the riders' rows (one bulk UPDATE).
RIDER_POSITION_FLUSH_SECONDS = env_float("RIDER_POSITION_FLUSH_SECONDS", 10.0)
# How long a rider's dispatch state (verified, available, busy) is trusted in Redis before the
# hot path reads it from the database again; changes are written through at once anyway.
RIDER_STATE_TTL_SECONDS = env_int("RIDER_STATE_TTL_SECONDS", 300)
# A rider's position is pushed to the customer of their delivery at most this often (0: never).
LIVE_POSITION_PUSH_SECONDS = env_float("LIVE_POSITION_PUSH_SECONDS", 2.0)

# -- dispatch (delivery.services.dispatch) ------------------------------------------------------
# An offer waits this long for the rider's answer, then goes to the next rider.
DISPATCH_OFFER_SECONDS = env_float("DISPATCH_OFFER_SECONDS", 30.0)
# The search radius around the restaurant: START, grown by STEP every RETRY seconds, up to MAX.
DISPATCH_RADIUS_START_KM = env_float("DISPATCH_RADIUS_START_KM", 3.0)
DISPATCH_RADIUS_STEP_KM = env_float("DISPATCH_RADIUS_STEP_KM", 2.0)
DISPATCH_RADIUS_MAX_KM = env_float("DISPATCH_RADIUS_MAX_KM", 15.0)
DISPATCH_RETRY_SECONDS = env_float("DISPATCH_RETRY_SECONDS", 10.0)
# With nobody found this long after the order was ready, the delivery is UNASSIGNED (an admin
# assigns it by hand).
DISPATCH_GIVE_UP_SECONDS = env_float("DISPATCH_GIVE_UP_SECONDS", 300.0)
# Nearest riders looked at per attempt (beyond those who already had an offer for it).
DISPATCH_CANDIDATES = env_int("DISPATCH_CANDIDATES", 20)
for _name in ("DISPATCH_OFFER_SECONDS", "DISPATCH_RETRY_SECONDS", "RIDER_POSITION_FLUSH_SECONDS"):
    if globals()[_name] <= 0:
        raise ImproperlyConfigured(f"{_name}={globals()[_name]} must be positive")
if LIVE_POSITION_PUSH_SECONDS < 0:
    raise ImproperlyConfigured("LIVE_POSITION_PUSH_SECONDS must be 0 (off) or positive")
if not 0 < DISPATCH_RADIUS_START_KM <= DISPATCH_RADIUS_MAX_KM:
    raise ImproperlyConfigured(
        "DISPATCH_RADIUS_START_KM must be positive and at most DISPATCH_RADIUS_MAX_KM"
    )

# What this project's beat (`bin/beat delivery`) sends to its worker: the outbox sweep and purge,
# the positions' flush, and the dispatch sweep (expires overdue offers, grows the radius of the
# deliveries still searching, gives up on them; the safety net of a worker killed mid-dispatch).
CELERY_BEAT_SCHEDULE = {
    "relay-outbox-delivery": outbox_sweep("delivery"),
    "purge-outbox-delivery": outbox_purge("delivery"),
    "delivery-flush-positions": beat_entry(
        "delivery.flush_positions", queue="delivery", every=RIDER_POSITION_FLUSH_SECONDS
    ),
    "delivery-dispatch-sweep": beat_entry(
        "delivery.dispatch_sweep", queue="delivery", every=DISPATCH_RETRY_SECONDS
    ),
}
