from decimal import Decimal

import pytest
from django.core.management import call_command

from catalog import services
from catalog.models import MenuItem
from catalog.tests.factories import MenuItemFactory, RestaurantFactory

pytestmark = pytest.mark.django_db


def test_a_menu_holds_at_most_the_limit(monkeypatch):
    monkeypatch.setattr(services, "MAX_MENU_ITEMS", 2)
    restaurant = RestaurantFactory()
    MenuItemFactory.create_batch(2, restaurant=restaurant)

    with pytest.raises(services.MenuFull):
        services.menu_item_create(restaurant=restaurant, name="One Too Many", price=Decimal("1"))


def test_a_name_taken_between_check_and_insert_is_a_domain_error(monkeypatch):
    restaurant = RestaurantFactory()
    MenuItemFactory(restaurant=restaurant, name="Soup")
    # Given a concurrent writer took the name after our check (the check sees nothing)
    monkeypatch.setattr(services, "_ensure_name_free", lambda **kwargs: None)

    with pytest.raises(services.MenuItemNameTaken):
        services.menu_item_create(restaurant=restaurant, name="SOUP", price=Decimal("2"))

    assert MenuItem.objects.count() == 1


def test_an_update_that_changes_nothing_does_not_write():
    restaurant = RestaurantFactory(name="Same")
    updated_at = restaurant.updated_at

    services.restaurant_update(restaurant=restaurant, data={"name": "Same"})

    restaurant.refresh_from_db()
    assert restaurant.updated_at == updated_at


def test_only_the_editable_fields_can_be_updated():
    with pytest.raises(ValueError, match="owner_id"):
        services.restaurant_update(restaurant=RestaurantFactory(), data={"owner_id": 5})


def test_migrations_are_committed():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
