"""`manage.py seed_catalog --restaurants N --items M [--owner-id ID] [--reset]`: demo restaurants.

Fast: two bulk_create calls in one transaction. bulk_create sends no signals, so the command drops
the whole catalog cache itself once the transaction has committed (see catalog/cache.py).

The restaurants are spread over one city: within CITY_RADIUS_KM of CITY_CENTRE (Berlin,
Alexanderplatz), where the demo riders are seeded too. On a catalog that already has restaurants
the command creates none, but gives such a position to any restaurant that has none (demo
restaurants seeded before restaurants had positions), so they take orders again.
"""

import math
import random
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from catalog import cache
from catalog.models import Cuisine, MenuItem, Restaurant

DISHES = {
    Cuisine.ITALIAN: [
        "Margherita Pizza",
        "Spaghetti Carbonara",
        "Lasagne",
        "Tiramisu",
        "Risotto ai Funghi",
    ],
    Cuisine.JAPANESE: ["Salmon Nigiri", "Tonkotsu Ramen", "Chicken Katsu", "Miso Soup", "Gyoza"],
    Cuisine.INDIAN: [
        "Butter Chicken",
        "Lamb Rogan Josh",
        "Palak Paneer",
        "Garlic Naan",
        "Mango Lassi",
    ],
    Cuisine.MEXICAN: ["Tacos al Pastor", "Chicken Burrito", "Nachos", "Guacamole", "Churros"],
    Cuisine.CHINESE: [
        "Kung Pao Chicken",
        "Mapo Tofu",
        "Char Siu Bao",
        "Fried Rice",
        "Hot and Sour Soup",
    ],
    Cuisine.THAI: ["Pad Thai", "Green Curry", "Tom Yum", "Som Tam", "Mango Sticky Rice"],
    Cuisine.FRENCH: [
        "Croque Monsieur",
        "Boeuf Bourguignon",
        "Onion Soup",
        "Crème Brûlée",
        "Ratatouille",
    ],
    Cuisine.AMERICAN: ["Cheeseburger", "BBQ Ribs", "Mac and Cheese", "Caesar Salad", "Brownie"],
    Cuisine.GREEK: ["Moussaka", "Souvlaki", "Greek Salad", "Spanakopita", "Baklava"],
    Cuisine.LEBANESE: ["Hummus", "Falafel Wrap", "Shawarma Plate", "Tabbouleh", "Fattoush"],
}
CATEGORIES = ["Starters", "Mains", "Sides", "Desserts", "Drinks"]
NAME_WORDS = ["Golden", "Little", "Old Town", "Corner", "Happy", "Blue", "Green", "Royal", "Sunny"]
PLACES = ["Kitchen", "House", "Bistro", "Canteen", "Garden", "Table", "Street Food", "Diner"]
STREETS = ["Main St", "Market Sq", "River Rd", "Station Rd", "High St", "Park Ave", "Mill Ln"]
CITY_CENTRE = (52.5219, 13.4132)  # (lat, lon)
CITY_RADIUS_KM = 4.0
KM_PER_DEGREE = 111.32


class Command(BaseCommand):
    help = "Create demo restaurants with menus (skipped when restaurants exist, unless --reset)."

    def add_arguments(self, parser):
        parser.add_argument("--restaurants", type=int, default=20)
        parser.add_argument("--items", type=int, default=10, help="menu items per restaurant")
        parser.add_argument("--owner-id", type=int, default=1)
        parser.add_argument("--reset", action="store_true", help="delete every restaurant first")
        parser.add_argument(
            "--seed", type=int, default=0, help="random seed (same seed, same data)"
        )

    def handle(self, *args, restaurants, items, owner_id, reset, seed, **options):
        if restaurants < 0 or not 0 <= items <= 200:
            raise CommandError("--restaurants must be >= 0 and --items between 0 and 200")
        rng = random.Random(seed)
        if not reset and Restaurant.objects.exists():
            placed = _place_unplaced(rng)
            self.stdout.write(
                "The catalog already has restaurants; none created (use --reset)"
                + (f", {placed} without a position placed in the city." if placed else ".")
            )
            return
        with transaction.atomic():
            if reset:
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"TRUNCATE {MenuItem._meta.db_table}, {Restaurant._meta.db_table}"
                    )
            created = Restaurant.objects.bulk_create(
                [_restaurant(rng, owner_id, number) for number in range(1, restaurants + 1)],
                batch_size=1000,
            )
            MenuItem.objects.bulk_create(
                [item for restaurant in created for item in _menu(rng, restaurant, items)],
                batch_size=2000,
            )
            transaction.on_commit(cache.invalidate_everything)
        self.stdout.write(
            self.style.SUCCESS(f"Created {len(created)} restaurants with {items} items each.")
        )


def _restaurant(rng: random.Random, owner_id: int, number: int) -> Restaurant:
    cuisine = rng.choice(list(DISHES))
    name = f"{rng.choice(NAME_WORDS)} {cuisine.label} {rng.choice(PLACES)} {number}"
    lat, lon = _city_position(rng)
    return Restaurant(
        owner_id=owner_id,
        name=name,
        cuisine=cuisine,
        description=f"{cuisine.label} food, cooked to order and delivered hot.",
        address=f"{rng.randint(1, 200)} {rng.choice(STREETS)}",
        lat=lat,
        lon=lon,
        is_open=rng.random() < 0.8,
    )


def _city_position(rng: random.Random) -> tuple[float, float]:
    """Return a random (lat, lon) within CITY_RADIUS_KM of CITY_CENTRE, evenly over the disc."""
    distance = CITY_RADIUS_KM * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    lat, lon = CITY_CENTRE
    north, east = distance * math.cos(bearing), distance * math.sin(bearing)
    return (
        round(lat + north / KM_PER_DEGREE, 6),
        round(lon + east / (KM_PER_DEGREE * math.cos(math.radians(lat))), 6),
    )


def _place_unplaced(rng: random.Random) -> int:
    """Give every restaurant without a position one in the city; return how many."""
    with transaction.atomic():
        unplaced = list(Restaurant.objects.filter(lat__isnull=True).select_for_update())
        for restaurant in unplaced:
            restaurant.lat, restaurant.lon = _city_position(rng)
        Restaurant.objects.bulk_update(unplaced, ["lat", "lon"], batch_size=1000)
        if unplaced:
            transaction.on_commit(cache.invalidate_everything)
    return len(unplaced)


def _menu(rng: random.Random, restaurant: Restaurant, count: int) -> list[MenuItem]:
    dishes = DISHES[Cuisine(restaurant.cuisine)]
    return [
        MenuItem(
            restaurant=restaurant,
            # Names are unique per menu: after one round of the dishes, number the sizes.
            name=dishes[n % len(dishes)]
            + (f" (size {n // len(dishes) + 1})" if n >= len(dishes) else ""),
            category=rng.choice(CATEGORIES),
            price=Decimal(rng.randint(250, 2500)) / 100,
            is_available=rng.random() < 0.9,
        )
        for n in range(count)
    ]
