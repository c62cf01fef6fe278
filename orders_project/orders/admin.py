from django.contrib import admin, messages

from orders import services
from orders.errors import InvalidTransition
from orders.models import Order, OrderItem, OrderStatusChange


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
    readonly_fields = [field.name for field in Order._meta.fields]
    inlines = [OrderItemInline, OrderStatusChangeInline]
    actions = ["cancel_orders"]

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
