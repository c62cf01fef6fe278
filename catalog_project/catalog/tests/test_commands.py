import pytest
from django.core.management import call_command
from django.db.models import Count

from catalog.models import MenuItem, Restaurant
from catalog.tests.reads import list_names


@pytest.mark.django_db
def test_seed_makes_restaurants_with_menus_once():
    call_command("seed_catalog", restaurants=30, items=12, owner_id=7)
    call_command("seed_catalog", restaurants=5, items=1)  # data exists: skipped

    assert Restaurant.objects.count() == 30
    assert set(Restaurant.objects.values_list("owner_id", flat=True)) == {7}
    menu_sizes = Restaurant.objects.annotate(n=Count("menu_items")).values_list("n", flat=True)
    assert set(menu_sizes) == {12}
    assert MenuItem.objects.filter(price__lte=0).count() == 0


@pytest.mark.django_db(transaction=True)
def test_seed_reset_replaces_the_data_and_the_cached_list(api_client):
    call_command("seed_catalog", restaurants=3, items=2, seed=1)
    before, _ = list_names(api_client)

    call_command("seed_catalog", restaurants=4, items=2, reset=True, seed=2)

    after, status = list_names(api_client)
    assert (len(after), status) == (4, "MISS")
    assert after != before
    assert MenuItem.objects.count() == 8
