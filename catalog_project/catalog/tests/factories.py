from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from catalog.models import Cuisine, MenuItem, Restaurant

# User ids (the `sub` of the test tokens) of the callers the tests play.
from food_common.testing import ADMIN, CUSTOMER, OTHER_OWNER, OWNER  # noqa: F401 - used by the tests


class RestaurantFactory(DjangoModelFactory):
    class Meta:
        model = Restaurant

    owner_id = OWNER
    name = factory.Sequence(lambda n: f"Restaurant {n:04d}")
    description = "Fresh food, delivered."
    cuisine = Cuisine.ITALIAN
    address = factory.Sequence(lambda n: f"{n} Main St")
    lat = 52.5219
    lon = 13.4132
    is_open = True


class MenuItemFactory(DjangoModelFactory):
    class Meta:
        model = MenuItem

    restaurant = factory.SubFactory(RestaurantFactory)
    name = factory.Sequence(lambda n: f"Dish {n}")
    category = "Mains"
    price = Decimal("9.50")
