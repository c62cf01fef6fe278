"""Input validation and output shapes of the orders API (business rules: orders.services)."""

from rest_framework import serializers

from food_common.schema import ErrorSerializer, page_serializer
from food_common.serializers import QueryParamsSerializer
from orders.models import Order, OrderItem, OrderStatus, OrderStatusChange
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


class OrderCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class OrderStatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=KITCHEN_STATUS_CHOICES,
        help_text="The next kitchen status: PAID → ACCEPTED → PREPARING → READY → DELIVERED.",
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
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_payable(self, order: Order) -> bool:
        return is_payable(order.status)


class OrderDetailSerializer(OrderSerializer):
    status_history = OrderStatusChangeSerializer(source="status_changes", many=True, read_only=True)

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "status_history"]
        read_only_fields = fields


class OrderErrorSerializer(ErrorSerializer):
    errors = serializers.DictField(
        required=False,
        help_text='Field errors, by field name; order lines by their index: {"items": {"2": {...}}}.',
    )


class OrderTransitionErrorSerializer(OrderErrorSerializer):
    from_status = serializers.ChoiceField(choices=OrderStatus.choices)
    to_status = serializers.ChoiceField(choices=OrderStatus.choices)


OrderPageSerializer = page_serializer(OrderSerializer, "OrderPageSerializer")
