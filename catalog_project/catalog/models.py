from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models.functions import Lower, Upper


class Cuisine(models.TextChoices):
    AMERICAN = "american"
    CHINESE = "chinese"
    FRENCH = "french"
    GREEK = "greek"
    INDIAN = "indian"
    ITALIAN = "italian"
    JAPANESE = "japanese"
    KOREAN = "korean"
    LEBANESE = "lebanese"
    MEXICAN = "mexican"
    SPANISH = "spanish"
    THAI = "thai"
    TURKISH = "turkish"
    VIETNAMESE = "vietnamese"
    OTHER = "other"


# Where riders can find a restaurant: the range the delivery service's Redis GEO index accepts.
MAX_LATITUDE = 85.05112878
MAX_LONGITUDE = 180.0


class Currency(models.TextChoices):
    EUR = "EUR"
    GBP = "GBP"
    USD = "USD"


def _trigram_index(field: str) -> GinIndex:
    # `icontains` compiles to UPPER(col::text) LIKE UPPER(...): this expression index serves it.
    return GinIndex(OpClass(Upper(field), name="gin_trgm_ops"), name=f"restaurant_{field}_trgm")


class Restaurant(models.Model):
    owner_id = models.BigIntegerField(help_text="Id of the owning user in the auth service.")
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=2000, blank=True)
    cuisine = models.CharField(max_length=20, choices=Cuisine.choices)
    address = models.CharField(max_length=300)
    # Required for every restaurant created since positions exist (the API asks for both); NULL
    # only for one created before, which takes no orders until its owner gives its position.
    lat = models.FloatField(
        null=True, blank=True, help_text="Degrees north; null while the restaurant has no position."
    )
    lon = models.FloatField(
        null=True, blank=True, help_text="Degrees east; null while the restaurant has no position."
    )
    is_open = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["owner_id"], name="restaurant_owner_idx"),
            models.Index(fields=["name", "id"], name="restaurant_name_idx"),
            models.Index(fields=["cuisine", "is_open", "name"], name="restaurant_cuisine_open_idx"),
            models.Index(fields=["is_open", "name"], name="restaurant_open_idx"),
            _trigram_index("name"),
            _trigram_index("description"),
            _trigram_index("cuisine"),
        ]
        constraints = [
            models.CheckConstraint(condition=~models.Q(name=""), name="restaurant_name_not_blank"),
            models.CheckConstraint(
                condition=models.Q(cuisine__in=Cuisine.values), name="restaurant_cuisine_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(lat__isnull=True, lon__isnull=True)
                | models.Q(
                    # NULL compares as unknown, which a CHECK lets pass: say "not null" outright.
                    lat__isnull=False,
                    lon__isnull=False,
                    lat__gte=-MAX_LATITUDE,
                    lat__lte=MAX_LATITUDE,
                    lon__gte=-MAX_LONGITUDE,
                    lon__lte=MAX_LONGITUDE,
                ),
                name="restaurant_position_both_or_none_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MenuItem(models.Model):
    restaurant = models.ForeignKey(Restaurant, on_delete=models.CASCADE, related_name="menu_items")
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=1000, blank=True)
    category = models.CharField(max_length=50, blank=True)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.EUR)
    is_available = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price__gt=0), name="menu_item_price_positive"
            ),
            models.CheckConstraint(condition=~models.Q(name=""), name="menu_item_name_not_blank"),
            models.CheckConstraint(
                condition=models.Q(currency__in=Currency.values), name="menu_item_currency_valid"
            ),
            # Also the index behind "the menu of restaurant X".
            models.UniqueConstraint(
                "restaurant",
                Lower("name"),
                name="menu_item_name_unique_per_restaurant",
                violation_error_message="This restaurant already has an item with this name.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.price} {self.currency})"
