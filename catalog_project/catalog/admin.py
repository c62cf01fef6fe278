from django.contrib import admin
from django.utils.html import format_html

from catalog.models import MenuItem, Restaurant
from food_common.urls import admin_page


class MenuItemInline(admin.TabularInline):
    model = MenuItem
    extra = 0
    fields = ["name", "category", "price", "currency", "is_available", "description"]


@admin.register(Restaurant)
class RestaurantAdmin(admin.ModelAdmin):
    list_display = ["name", "owner_id", "cuisine", "is_open", "updated_at"]
    list_filter = ["cuisine", "is_open"]
    search_fields = ["name", "description", "address", "=owner_id"]
    readonly_fields = ["created_at", "updated_at", "orders"]
    inlines = [MenuItemInline]

    @admin.display(description="its orders")
    def orders(self, restaurant: Restaurant) -> str:
        """The restaurant's orders in the orders admin (each with its trail across services)."""
        if restaurant.pk is None:
            return "-"
        url = admin_page("orders", "orders.order", restaurant_id=restaurant.pk)
        return format_html('<a href="{}">the orders of this restaurant</a>', url)

    def get_form(self, request, obj=None, **kwargs):
        # A restaurant saved here has a position, as one created through the API does.
        form = super().get_form(request, obj, **kwargs)
        form.base_fields["lat"].required = form.base_fields["lon"].required = True
        return form
