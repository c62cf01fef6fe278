"""Input validation and output shapes of the delivery API (no business rules here: see services)."""

import math

from rest_framework import serializers

from delivery.models import (
    MAX_LATITUDE,
    MAX_LONGITUDE,
    Delivery,
    DeliveryOffer,
    DeliveryStatusChange,
    Rider,
    VehicleType,
)
from food_common.schema import ErrorSerializer, page_serializer
from food_common.serializers import QueryParamsSerializer, StrictFieldsSerializer

MAX_ID = 2**63 - 1
MAX_PAGE = 100_000


class CoordinateField(serializers.Field):
    """A latitude or longitude: a JSON number (not a string, not a boolean), finite, in range."""

    default_error_messages = {
        "invalid": "A JSON number is required.",
        "not_finite": "A finite number is required.",
        "range": "Must be between {low} and {high}.",
    }

    def __init__(self, *, limit: float, **kwargs):
        self.limit = limit
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        try:
            value = float(data)
        except OverflowError:  # an integer too large for a float
            self.fail("not_finite")
        if not math.isfinite(value):
            self.fail("not_finite")
        if not -self.limit <= value <= self.limit:
            self.fail("range", low=-self.limit, high=self.limit)
        return value

    def to_representation(self, value) -> float:
        return value


def latitude(**kwargs) -> CoordinateField:
    return CoordinateField(
        limit=MAX_LATITUDE,
        help_text=f"Degrees north, −{MAX_LATITUDE} to {MAX_LATITUDE} (what Redis GEO indexes).",
        **kwargs,
    )


def longitude(**kwargs) -> CoordinateField:
    return CoordinateField(limit=MAX_LONGITUDE, help_text="Degrees east, −180 to 180.", **kwargs)


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false only ("yes", 1 and "true" are refused)."""

    default_error_messages = {"invalid": "A JSON boolean is required."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


# -- input --------------------------------------------------------------------------------------


class LocationInputSerializer(StrictFieldsSerializer):
    """Where the rider is now."""

    lat = latitude()
    lon = longitude()


class RiderCreateInputSerializer(StrictFieldsSerializer):
    name = serializers.CharField(max_length=100)
    phone = serializers.RegexField(
        r"^\+?[0-9 ()-]{6,31}$", max_length=32, help_text="Digits, spaces, ()- and a leading +."
    )
    vehicle_type = serializers.ChoiceField(choices=VehicleType.choices)


class RiderUpdateInputSerializer(RiderCreateInputSerializer):
    """Any of the profile's fields; `available` puts the rider on or off shift."""

    available = StrictBooleanField(
        required=False, help_text="On shift and willing to take offers (verified riders only)."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class AssignInputSerializer(StrictFieldsSerializer):
    rider_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="The rider's id.")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class DeliveryFilterSerializer(QueryParamsSerializer):
    order_id = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Only this order's delivery."
    )
    page = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE)


class RiderFilterSerializer(QueryParamsSerializer):
    verified = serializers.BooleanField(required=False, allow_null=True, default=None)
    available = serializers.BooleanField(required=False, allow_null=True, default=None)
    page = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE)


class PageQuerySerializer(QueryParamsSerializer):
    page = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE)


# -- output -------------------------------------------------------------------------------------


class PositionSerializer(serializers.Serializer):
    lat = serializers.FloatField()
    lon = serializers.FloatField()
    at = serializers.DateTimeField(help_text="When the rider reported it.")


class PointSerializer(serializers.Serializer):
    lat = serializers.FloatField()
    lon = serializers.FloatField()


class AddressPointSerializer(PointSerializer):
    address = serializers.CharField()


class RiderSerializer(serializers.ModelSerializer):
    position = PositionSerializer(
        allow_null=True,
        read_only=True,
        help_text="The last reported position (live), or null if none yet.",
    )

    class Meta:
        model = Rider
        fields = [
            "id",
            "user_id",
            "name",
            "phone",
            "vehicle_type",
            "verified",
            "available",
            "position",
            "created_at",
        ]
        read_only_fields = fields


class RiderAdminSerializer(serializers.ModelSerializer):
    """A rider as admins list them: the last position is the durable one (flushed)."""

    class Meta:
        model = Rider
        fields = [
            "id",
            "user_id",
            "name",
            "phone",
            "vehicle_type",
            "verified",
            "available",
            "last_lat",
            "last_lon",
            "last_seen_at",
            "created_at",
        ]
        read_only_fields = fields


class DeliveryRiderSerializer(serializers.ModelSerializer):
    class Meta:
        model = Rider
        fields = ["name", "vehicle_type"]
        read_only_fields = fields


class OfferSerializer(serializers.ModelSerializer):
    """An offer as its rider sees it: where to pick up, where to, how far, until when."""

    delivery_id = serializers.IntegerField(read_only=True)
    pickup = serializers.SerializerMethodField()
    dropoff = serializers.SerializerMethodField()

    class Meta:
        model = DeliveryOffer
        fields = [
            "id",
            "delivery_id",
            "status",
            "pickup",
            "dropoff",
            "distance_km",
            "offered_at",
            "expires_at",
        ]
        read_only_fields = fields

    def get_pickup(self, offer) -> PointSerializer:
        return {"lat": offer.delivery.pickup_lat, "lon": offer.delivery.pickup_lon}

    def get_dropoff(self, offer) -> AddressPointSerializer:
        delivery = offer.delivery
        return {
            "lat": delivery.dropoff_lat,
            "lon": delivery.dropoff_lon,
            "address": delivery.dropoff_address,
        }


class OfferAdminSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryOffer
        fields = [
            "id",
            "rider_id",
            "status",
            "offered_at",
            "expires_at",
            "answered_at",
            "radius_km",
            "distance_km",
        ]
        read_only_fields = fields


class StatusChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryStatusChange
        fields = ["at", "from_status", "to_status", "rider_id", "by_user_id", "reason"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    pickup = serializers.SerializerMethodField()
    dropoff = serializers.SerializerMethodField()
    rider = DeliveryRiderSerializer(allow_null=True, read_only=True)
    rider_position = PositionSerializer(
        allow_null=True,
        read_only=True,
        help_text="The rider's last reported position while they have the delivery, else null.",
    )

    class Meta:
        model = Delivery
        fields = [
            "id",
            "order_id",
            "restaurant_id",
            "status",
            "pickup",
            "dropoff",
            "rider",
            "rider_position",
            "created_at",
            "assigned_at",
            "picked_up_at",
            "delivered_at",
            "cancelled_at",
        ]
        read_only_fields = fields

    def get_pickup(self, delivery) -> PointSerializer:
        return {"lat": delivery.pickup_lat, "lon": delivery.pickup_lon}

    def get_dropoff(self, delivery) -> AddressPointSerializer:
        return {
            "lat": delivery.dropoff_lat,
            "lon": delivery.dropoff_lon,
            "address": delivery.dropoff_address,
        }


class DeliveryAdminSerializer(DeliverySerializer):
    """What admins see besides: who ordered, the search, every offer and the timeline."""

    offers = OfferAdminSerializer(many=True, read_only=True)
    timeline = StatusChangeSerializer(many=True, read_only=True, source="status_changes")

    class Meta(DeliverySerializer.Meta):
        fields = [
            *DeliverySerializer.Meta.fields,
            "customer_id",
            "customer_email",
            "restaurant_owner_id",
            "radius_km",
            "offers",
            "timeline",
        ]
        read_only_fields = fields


class DeliveryConflictSerializer(ErrorSerializer):
    delivery_status = serializers.CharField(
        required=False, help_text="`delivery_wrong_status`: the delivery's status."
    )
    offer_status = serializers.CharField(
        required=False, help_text="`offer_not_pending`: the offer's status."
    )
    expires_at = serializers.CharField(
        required=False, help_text="`offer_expired`: when it ran out."
    )


class ThrottledSerializer(ErrorSerializer):
    retry_after = serializers.FloatField(help_text="Seconds until the next update is accepted.")


DeliveryPageSerializer = page_serializer(DeliverySerializer, "DeliveryPageSerializer")
RiderPageSerializer = page_serializer(RiderAdminSerializer, "RiderPageSerializer")
OfferPageSerializer = page_serializer(OfferSerializer, "OfferPageSerializer")
