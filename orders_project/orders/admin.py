from django.contrib import admin, messages
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from food_common.authentication import ROLE_ADMIN
from food_common.urls import admin_page
from orders import services
from orders.errors import InvalidTransition, OrderNotFound
from orders.models import Order, OrderItem, OrderStatusChange
from orders.trail import order_links, order_trail


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class OrderItemInline(ReadOnlyInline):
    model = OrderItem
    fields = ["menu_item_id", "name", "unit_price", "quantity", "line_total"]
    readonly_fields = fields


class OrderStatusChangeInline(ReadOnlyInline):
    model = OrderStatusChange
    verbose_name_plural = "status history"
    fields = ["at", "from_status", "to_status", "by_user_id", "reason"]
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders are read-only here: statuses change only through orders.services (the cancel action)."""

    list_display = [
        "id",
        "status",
        "customer_email",
        "restaurant_id",
        "total",
        "currency",
        "created_at",
    ]
    list_filter = ["status", "restaurant_id", "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["customer_email", "=id"]
    readonly_fields = [*(field.name for field in Order._meta.fields), "elsewhere"]
    inlines = [OrderItemInline, OrderStatusChangeInline]
    actions = ["cancel_orders"]

    @admin.display(description="in the other admins")
    def elsewhere(self, order: Order) -> str:
        links = order_links(order)
        return format_html(
            '<a href="{}">its restaurant ({})</a> · <a href="{}">its payments</a> · '
            '<a href="{}">its delivery</a>',
            links["restaurant"],
            order.restaurant_id,
            links["payments"],
            links["delivery"],
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The order's page, with its trail across services below its history (orders.trail)."""
        extra_context = extra_context or {}
        if request.method == "GET" and object_id.isdigit():
            try:
                extra_context["trail"] = trail_for_page(order_trail(order_id=int(object_id)))
            except OrderNotFound:
                pass  # the admin says the order does not exist
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request) -> bool:
        return False  # orders are placed through the API, priced by the catalog

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # an order, its history and its events are records

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("orders.change_order")

    @admin.action(description="Cancel the selected orders", permissions=["cancel"])
    def cancel_orders(self, request, queryset):
        cancelled, refused = 0, []
        for order in queryset:
            try:
                services.order_cancel(
                    order_id=order.pk,
                    by_user_id=None,
                    by_role=ROLE_ADMIN,
                    reason=f"Cancelled in the admin by {request.user.get_username()}.",
                )
                cancelled += 1
            except InvalidTransition:
                refused.append(f"{order.pk} ({order.status})")
        if cancelled:
            self.message_user(request, f"{cancelled} order(s) cancelled.")
        if refused:
            self.message_user(
                request,
                f"Not cancellable in their status: {', '.join(refused)}.",
                messages.WARNING,
            )


def _when(value: str | None) -> str:
    """Return an ISO time as the trail shows it: to the millisecond, in UTC."""
    at = parse_datetime(value) if value else None
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if at else "-"


def trail_for_page(trail: dict) -> dict:
    """Return the trail with what its page shows besides: times to the millisecond, and links to
    the outbox rows of each request id in the admins of the services that published under it."""
    for row in trail["timeline"]:
        row["when"] = _when(row["at"])
    services_of = {}
    for event in trail["events"]:
        event["when"] = _when(event["occurred_at"])
        services_of.setdefault(event["request_id"], []).append(event["service"])
        for consumer in event["consumers"]:
            for handled in consumer["handled"]:
                handled["when"] = _when(handled["handled_at"])
    for request in trail["requests"]:
        request["when"] = _when(request["first_at"])
        request["outbox_urls"] = [
            (service, admin_page(service, "events.outboxevent", q=request["request_id"]))
            for service in dict.fromkeys(services_of.get(request["request_id"], ()))
        ]
    return trail
