"""Input validation and output shapes of the orders API (business rules: orders.services)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from food_common.schema import ErrorSerializer, page_serializer
from food_common.serializers import QueryParamsSerializer
from orders.models import (
    MAX_LATITUDE,
    MAX_LONGITUDE,
    DeliveryProgress,
    Order,
    OrderItem,
    OrderStatus,
    OrderStatusChange,
)
from orders.placing import MAX_LINE_QUANTITY, MAX_ORDER_LINES
from orders.state_machine import is_payable
from orders.transitions import KITCHEN_STATUSES

MAX_ID = 2**63 - 1
MAX_PAGE = 100_000
# Named enums in the OpenAPI schema: settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] maps
# "OrderStatusEnum" to orders.models.OrderStatus and "KitchenStatusEnum" to this list.
KITCHEN_STATUS_CHOICES = [(s.value, s.label) for s in KITCHEN_STATUSES]


class OrderFilterSerializer(QueryParamsSerializer):
    status = serializers.ChoiceField(
        choices=OrderStatus.choices, required=False, help_text="Only orders in this status."
    )
    page = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE)


class OrderLineInputSerializer(serializers.Serializer):
    menu_item_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_LINE_QUANTITY)


class OrderPlaceInputSerializer(serializers.Serializer):
    restaurant_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    # A ListField (not many=True) so line errors are keyed by the line's index: {"items": {"2": ...}}.
    items = serializers.ListField(
        child=OrderLineInputSerializer(),
        min_length=1,
        max_length=MAX_ORDER_LINES,
        help_text=(
            f"1 to {MAX_ORDER_LINES} lines, each menu item at most once, "
            f"quantity 1 to {MAX_LINE_QUANTITY}."
        ),
    )
    delivery_address = serializers.CharField(max_length=500)
    delivery_lat = serializers.FloatField(
        min_value=-MAX_LATITUDE,
        max_value=MAX_LATITUDE,
        help_text=f"Where the rider brings the order: degrees north, −{MAX_LATITUDE} to "
        f"{MAX_LATITUDE}.",
    )
    delivery_lon = serializers.FloatField(
        min_value=-MAX_LONGITUDE,
        max_value=MAX_LONGITUDE,
        help_text="Where the rider brings the order: degrees east, −180 to 180.",
    )


class OrderCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class OrderStatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=KITCHEN_STATUS_CHOICES,
        help_text=(
            "The next kitchen status: PAID → ACCEPTED → PREPARING → READY (the rider's pickup and "
            "hand-over take it on to OUT_FOR_DELIVERY and DELIVERED)."
        ),
    )


class OrderItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderItem
        fields = ["menu_item_id", "name", "unit_price", "quantity", "line_total"]
        read_only_fields = fields


class OrderStatusChangeSerializer(serializers.ModelSerializer):
    from_status = serializers.ChoiceField(
        choices=OrderStatus.choices,
        allow_blank=True,
        read_only=True,
        help_text='The status before the change; "" on the first entry (the order was placed).',
    )

    class Meta:
        model = OrderStatusChange
        fields = ["from_status", "to_status", "at", "by_user_id", "reason"]
        read_only_fields = fields


class OrderSerializer(serializers.ModelSerializer):
    items = OrderItemSerializer(many=True, read_only=True)
    payable = serializers.SerializerMethodField(
        help_text=(
            "True while a payment may start for the order (it may still become PAID: today in "
            "PLACED or PAYMENT_FAILED). Read this flag rather than a copy of the statuses."
        )
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "status",
            "payable",
            "customer_id",
            "restaurant_id",
            "items",
            "subtotal",
            "total",
            "currency",
            "refund_pending",
            "delivery_address",
            "delivery_lat",
            "delivery_lon",
            "pickup_lat",
            "pickup_lon",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_payable(self, order: Order) -> bool:
        return is_payable(order.status)


class OrderRiderSerializer(serializers.Serializer):
    name = serializers.CharField()
    vehicle_type = serializers.CharField(help_text="As the delivery service names it: bicycle, ...")


class OrderRiderPositionSerializer(serializers.Serializer):
    lat = serializers.FloatField()
    lon = serializers.FloatField()
    at = serializers.DateTimeField(help_text="When the rider reported it.")


class OrderDeliverySerializer(serializers.Serializer):
    """The order's delivery: what its events told, and where its rider is (read when asked)."""

    id = serializers.IntegerField(help_text="The delivery's id in the delivery service.")
    status = serializers.ChoiceField(choices=DeliveryProgress.choices)
    rider = OrderRiderSerializer(allow_null=True, help_text="Null until a rider takes it.")
    position = OrderRiderPositionSerializer(
        allow_null=True,
        help_text=(
            "The rider's last reported position while they have the delivery (ASSIGNED, "
            "PICKED_UP); null otherwise, and when the delivery service does not answer."
        ),
    )


class OrderDetailSerializer(OrderSerializer):
    """An order with its history and its delivery; `context["rider_position"]`, if given, is
    where its rider is now (orders.selectors.order_rider_position)."""

    status_history = OrderStatusChangeSerializer(source="status_changes", many=True, read_only=True)
    delivery = serializers.SerializerMethodField()

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "status_history", "delivery"]
        read_only_fields = fields

    @extend_schema_field(
        OrderDeliverySerializer(
            allow_null=True, help_text="Null until the delivery service opens one (at READY)."
        )
    )
    def get_delivery(self, order: Order) -> dict | None:
        if order.delivery_id is None:
            return None
        rider = None
        if order.rider_name or order.rider_vehicle_type:
            rider = {"name": order.rider_name, "vehicle_type": order.rider_vehicle_type}
        position = self.context.get("rider_position")
        return OrderDeliverySerializer(
            {
                "id": order.delivery_id,
                "status": order.delivery_progress,
                "rider": rider,
                "position": position and vars(position),
            }
        ).data


class OrderErrorSerializer(ErrorSerializer):
    errors = serializers.DictField(
        required=False,
        help_text='Field errors, by field name; order lines by their index: {"items": {"2": {...}}}.',
    )


class OrderTransitionErrorSerializer(OrderErrorSerializer):
    from_status = serializers.ChoiceField(choices=OrderStatus.choices)
    to_status = serializers.ChoiceField(choices=OrderStatus.choices)


OrderPageSerializer = page_serializer(OrderSerializer, "OrderPageSerializer")


# -- the trail (documentation of GET /orders/{id}/trail; orders.trail builds the answer) ---------

URL_HELP = "The path of the record's page in its service's admin, through the gateway."
FLOWER_HELP = "The path of Flower's page of the task that handles the event on this queue."


class TrailHandledSerializer(serializers.Serializer):
    event_id = serializers.UUIDField()
    event_type = serializers.CharField()
    handler = serializers.CharField(help_text="The handler's dotted name.")
    queue = serializers.CharField(help_text='Its queue ("" if this process has no such handler).')
    handled_at = serializers.DateTimeField()
    service = serializers.CharField(help_text="The service whose inbox has the entry.")
    url = serializers.CharField(help_text=URL_HELP)


class TrailDeadLetterSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event_id = serializers.UUIDField()
    event_type = serializers.CharField()
    handler = serializers.CharField()
    queue = serializers.CharField()
    error = serializers.CharField()
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    replayed_at = serializers.DateTimeField(allow_null=True)
    request_id = serializers.CharField()
    service = serializers.CharField()
    url = serializers.CharField(help_text=URL_HELP)


class TrailConsumerSerializer(serializers.Serializer):
    queue = serializers.CharField(help_text="A consuming queue, as the event contract lists it.")
    state = serializers.ChoiceField(
        choices=["handled", "dead-lettered", "waiting"],
        help_text="dead-lettered while a dead letter is not replayed; waiting: not handled yet.",
    )
    task_id = serializers.CharField(help_text="The Celery task id of the event on this queue.")
    flower_url = serializers.CharField(help_text=FLOWER_HELP)
    handled = TrailHandledSerializer(many=True)
    dead_letters = TrailDeadLetterSerializer(many=True)


class TrailEventSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    producer = serializers.CharField()
    service = serializers.CharField(help_text="The service whose outbox has it.")
    occurred_at = serializers.DateTimeField()
    request_id = serializers.CharField(help_text='The request it was published under ("" if none).')
    sent_at = serializers.DateTimeField(
        allow_null=True, help_text="When the broker took it; null: not sent yet."
    )
    send_attempts = serializers.IntegerField()
    last_error = serializers.CharField()
    url = serializers.CharField(help_text=URL_HELP)
    consumers = TrailConsumerSerializer(many=True)


class TrailRowSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    service = serializers.CharField(help_text="Where it happened: a service, or a consuming queue.")
    what = serializers.CharField()
    detail = serializers.CharField()
    request_id = serializers.CharField()
    url = serializers.CharField(help_text=URL_HELP)
    flower_url = serializers.CharField(help_text=FLOWER_HELP + ' "" if none.')


class TrailRequestSerializer(serializers.Serializer):
    request_id = serializers.CharField()
    first_at = serializers.DateTimeField()
    events = serializers.ListField(
        child=serializers.CharField(), help_text="Their types, in order."
    )


class TrailOrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    customer_id = serializers.IntegerField()
    customer_email = serializers.CharField()
    restaurant_id = serializers.IntegerField()
    restaurant_owner_id = serializers.IntegerField()
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    refund_pending = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    links = serializers.DictField(
        child=serializers.CharField(),
        help_text="Paths in the admins: the order, its restaurant, its payments, its delivery.",
    )


class OrderTrailSerializer(serializers.Serializer):
    order = TrailOrderSerializer()
    events = TrailEventSerializer(many=True, help_text="Every service's events about the order.")
    timeline = TrailRowSerializer(many=True, help_text="Everything that happened, oldest first.")
    requests = TrailRequestSerializer(many=True)
    problems = serializers.ListField(
        child=serializers.CharField(),
        help_text="What looks stuck now: an event not sent or not handled, a dead letter, "
        "a payment left PENDING, a service that did not answer...",
    )
    unavailable = serializers.DictField(
        child=serializers.CharField(), help_text="The services whose part is missing, with why."
    )
    status_history = OrderStatusChangeSerializer(many=True)
    notifications = serializers.ListField(child=serializers.DictField())
    payments = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="The payments service's payments of the order, each with its refunds.",
    )
    delivery = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="The delivery service's delivery of the order, its offers and timeline.",
    )
