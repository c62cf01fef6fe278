"""`manage.py seed_riders --user-ids 2,3,4 [--centre LAT,LON] [--radius-km KM]`: demo riders.

bin/bootstrap (`make up`) runs it with the ids that auth's `manage.py ensure_demo_riders` printed
(accounts with the role rider), as it seeds the demo restaurants for the local admin's id. Each gets
a rider profile, verified and available, and a position within --radius-km of --centre (the city
where `seed_catalog` puts the demo restaurants), reported through the location hot path, so they
are in Redis's set of available riders at once. A rider who has a profile keeps it; every run
reports their position again, so each `make up` starts with fresh positions. Dispatch skips a
position older than RIDER_POSITION_STALE_SECONDS: a demo rider who should get offers later reports
their own (`PUT /riders/me/location`, README.md).
"""

import math
import random

from django.core.management.base import BaseCommand, CommandError

from delivery import positions, services
from delivery.errors import LocationTooFrequent
from delivery.models import Rider, VehicleType

CITY_CENTRE = (52.5219, 13.4132)  # Berlin, Alexanderplatz: catalog's seed_catalog uses it too
CITY_RADIUS_KM = 4.0
KM_PER_DEGREE = 111.32


def _ids(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--user-ids: comma-separated ids, not {text!r}") from None


def _point(text: str) -> tuple[float, float]:
    try:
        lat, lon = (float(part) for part in text.split(","))
    except ValueError:
        raise CommandError(f"--centre: LAT,LON, not {text!r}") from None
    return lat, lon


def city_position(rng: random.Random, centre: tuple[float, float], radius_km: float):
    """Return a random (lat, lon) within `radius_km` of `centre`, evenly over the disc."""
    distance = radius_km * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    north, east = distance * math.cos(bearing), distance * math.sin(bearing)
    return (
        round(centre[0] + north / KM_PER_DEGREE, 6),
        round(centre[1] + east / (KM_PER_DEGREE * math.cos(math.radians(centre[0]))), 6),
    )


class Command(BaseCommand):
    help = "Give the demo riders' accounts verified, available profiles and positions in the city."

    def add_arguments(self, parser):
        parser.add_argument("--user-ids", type=_ids, required=True, help="auth user ids, 1,2,3")
        parser.add_argument("--centre", type=_point, default=CITY_CENTRE, help="LAT,LON")
        parser.add_argument("--radius-km", type=float, default=CITY_RADIUS_KM)
        parser.add_argument(
            "--seed", type=int, default=0, help="random seed (same seed, same data)"
        )

    def handle(self, *args, user_ids, centre, radius_km, seed, **options):
        rng = random.Random(seed)
        vehicles = list(VehicleType.values)
        created = placed = 0
        for number, user_id in enumerate(user_ids, start=1):
            rider = Rider.objects.filter(user_id=user_id).first()
            if rider is None:
                rider = services.rider_create(
                    user_id=user_id,
                    name=f"Demo rider {number}",
                    phone=f"+49 30 5550{number:03d}",
                    vehicle_type=vehicles[(number - 1) % len(vehicles)],
                )
                services.rider_verify(rider_id=rider.pk)
                services.rider_update(user_id=user_id, available=True)
                created += 1
            elif not rider.verified:
                continue  # a profile no admin has verified yet: no position on its behalf
            lat, lon = city_position(rng, centre, radius_km)
            try:
                positions.location_record(user_id=user_id, lat=lat, lon=lon)
                placed += 1
            except LocationTooFrequent:
                pass  # reported a moment ago (a second run at once): that position stands
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo riders: {created} created, {placed} of {len(user_ids)} placed within "
                f"{radius_km:g} km of {centre[0]:g},{centre[1]:g}."
            )
        )
