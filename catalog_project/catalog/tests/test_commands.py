import math

import pytest
from django.core.management import call_command
from django.db.models import Count

from catalog.management.commands.seed_catalog import CITY_CENTRE, CITY_RADIUS_KM
from catalog.models import MenuItem, Restaurant
from catalog.tests.factories import RestaurantFactory
from catalog.tests.reads import list_names


def km_from_centre(lat: float, lon: float) -> float:
    """Return the distance of (lat, lon) from the demo city's centre (equirectangular: a city)."""
    north = (lat - CITY_CENTRE[0]) * 111.32
    east = (lon - CITY_CENTRE[1]) * 111.32 * math.cos(math.radians(CITY_CENTRE[0]))
    return math.hypot(north, east)


@pytest.mark.django_db
def test_seed_makes_restaurants_with_menus_once():
    call_command("seed_catalog", restaurants=30, items=12, owner_id=7)
    call_command("seed_catalog", restaurants=5, items=1)  # data exists: skipped

    assert Restaurant.objects.count() == 30
    assert set(Restaurant.objects.values_list("owner_id", flat=True)) == {7}
    menu_sizes = Restaurant.objects.annotate(n=Count("menu_items")).values_list("n", flat=True)
    assert set(menu_sizes) == {12}
    assert MenuItem.objects.filter(price__lte=0).count() == 0


@pytest.mark.django_db
def test_seed_places_the_restaurants_around_one_city_centre():
    call_command("seed_catalog", restaurants=50, items=0)

    positions = list(Restaurant.objects.values_list("lat", "lon"))
    distances = [km_from_centre(lat, lon) for lat, lon in positions]
    assert max(distances) <= CITY_RADIUS_KM + 0.01
    assert len(set(positions)) == 50  # spread, not stacked on the centre
    assert max(distances) > CITY_RADIUS_KM / 2


@pytest.mark.django_db
def test_seed_on_an_existing_catalog_places_only_the_restaurants_without_a_position():
    placed = RestaurantFactory(lat=48.8566, lon=2.3522)
    unplaced = RestaurantFactory(lat=None, lon=None)

    call_command("seed_catalog", restaurants=5, items=1)

    assert Restaurant.objects.count() == 2  # none created
    placed.refresh_from_db()
    unplaced.refresh_from_db()
    assert (placed.lat, placed.lon) == (48.8566, 2.3522)
    assert km_from_centre(unplaced.lat, unplaced.lon) <= CITY_RADIUS_KM + 0.01


@pytest.mark.django_db(transaction=True)
def test_seed_reset_replaces_the_data_and_the_cached_list(api_client):
    call_command("seed_catalog", restaurants=3, items=2, seed=1)
    before, _ = list_names(api_client)

    call_command("seed_catalog", restaurants=4, items=2, reset=True, seed=2)

    after, status = list_names(api_client)
    assert (len(after), status) == (4, "MISS")
    assert after != before
    assert MenuItem.objects.count() == 8
