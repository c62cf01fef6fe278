"""Input validation and output shapes of the catalog API (no business rules here: see services.py)."""

from decimal import Decimal

from rest_framework import serializers

from catalog.models import MAX_LATITUDE, MAX_LONGITUDE, Cuisine, Currency, MenuItem, Restaurant
from food_common.schema import page_serializer
from food_common.serializers import QueryParamsSerializer

MAX_ID = 2**63 - 1
MAX_PAGE = 100_000
MAX_IDS = 100


class RestaurantFilterSerializer(QueryParamsSerializer):
    search = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="Text in the name, description or cuisine (case-insensitive).",
    )
    cuisine = serializers.ChoiceField(required=False, allow_blank=True, choices=Cuisine.choices)
    is_open = serializers.BooleanField(required=False, allow_null=True, default=None)
    page = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE)


class MenuFilterSerializer(QueryParamsSerializer):
    ids = serializers.CharField(
        required=False,
        max_length=2000,
        help_text=f"Comma-separated menu item ids (at most {MAX_IDS}): return only these items.",
    )

    def validate_ids(self, value: str) -> list[int]:
        parts = value.split(",")
        if len(parts) > MAX_IDS:
            raise serializers.ValidationError(f"At most {MAX_IDS} ids.")
        field = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        try:
            return sorted({field.run_validation(part.strip()) for part in parts})
        except serializers.ValidationError:
            raise serializers.ValidationError(
                "Give positive integer ids separated by commas."
            ) from None


class RestaurantInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    cuisine = serializers.ChoiceField(choices=Cuisine.choices)
    address = serializers.CharField(max_length=300)
    lat = serializers.FloatField(
        min_value=-MAX_LATITUDE,
        max_value=MAX_LATITUDE,
        help_text=f"Degrees north, −{MAX_LATITUDE} to {MAX_LATITUDE}; riders are sent here.",
    )
    lon = serializers.FloatField(
        min_value=-MAX_LONGITUDE, max_value=MAX_LONGITUDE, help_text="Degrees east, −180 to 180."
    )
    is_open = serializers.BooleanField(required=False)

    def validate(self, data: dict) -> dict:
        # A position is one thing: a PATCH moves the restaurant with both, or leaves it.
        if ("lat" in data) != ("lon" in data):
            missing = "lon" if "lat" in data else "lat"
            raise serializers.ValidationError({missing: ["Give lat and lon together."]})
        return data


class MenuItemInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    category = serializers.CharField(max_length=50, required=False, allow_blank=True)
    price = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=Decimal("0.01"))
    currency = serializers.ChoiceField(choices=Currency.choices, required=False)
    is_available = serializers.BooleanField(required=False)


class MenuItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = MenuItem
        fields = [
            "id",
            "restaurant_id",
            "name",
            "description",
            "category",
            "price",
            "currency",
            "is_available",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RestaurantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Restaurant
        fields = [
            "id",
            "owner_id",
            "name",
            "description",
            "cuisine",
            "address",
            "lat",
            "lon",
            "is_open",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RestaurantDetailSerializer(RestaurantSerializer):
    menu = MenuItemSerializer(source="menu_items", many=True, read_only=True)

    class Meta(RestaurantSerializer.Meta):
        fields = [*RestaurantSerializer.Meta.fields, "menu"]
        read_only_fields = fields


class MenuRestaurantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Restaurant
        fields = ["id", "owner_id", "name", "is_open", "lat", "lon"]
        read_only_fields = fields


class MenuSerializer(serializers.Serializer):
    restaurant = MenuRestaurantSerializer()
    count = serializers.IntegerField()
    results = MenuItemSerializer(many=True)


RestaurantPageSerializer = page_serializer(RestaurantSerializer, "RestaurantPageSerializer")
