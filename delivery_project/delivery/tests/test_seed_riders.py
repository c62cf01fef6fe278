"""`manage.py seed_riders`: the demo riders of `make up`, dispatchable at once, created once."""

import pytest
from django.core.management import CommandError, call_command

from delivery import positions
from delivery.management.commands.seed_riders import CITY_CENTRE
from delivery.models import Rider
from delivery.tests.factories import RiderFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_seeds_verified_available_riders_in_the_available_set_near_the_city_centre():
    call_command("seed_riders", "--user-ids", "901,902,903", "--radius-km", "2")

    riders = Rider.objects.filter(user_id__in=[901, 902, 903])
    assert riders.count() == 3
    assert all(r.verified and r.available for r in riders)
    assert {r.vehicle_type for r in riders} == {"bicycle", "scooter", "car"}
    near = positions.riders_near(lat=CITY_CENTRE[0], lon=CITY_CENTRE[1], radius_km=2.1, count=10)
    assert sorted(user_id for user_id, _ in near) == [901, 902, 903]
    assert all(distance <= 2.1 for _, distance in near)


def test_a_second_run_creates_nobody_and_leaves_an_unverified_rider_alone():
    RiderFactory(user_id=905, verified=False, available=False)
    call_command("seed_riders", "--user-ids", "904")
    call_command("seed_riders", "--user-ids", "904,905", "--seed", "1")

    assert Rider.objects.filter(user_id=904).count() == 1
    assert not Rider.objects.get(user_id=905).verified
    near = positions.riders_near(lat=CITY_CENTRE[0], lon=CITY_CENTRE[1], radius_km=5, count=10)
    assert [user_id for user_id, _ in near] == [904]


def test_malformed_ids_are_refused():
    with pytest.raises(CommandError, match="--user-ids"):
        call_command("seed_riders", "--user-ids", "1,x")
