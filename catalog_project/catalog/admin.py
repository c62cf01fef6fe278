from django.contrib import admin

from catalog.models import MenuItem, Restaurant


class MenuItemInline(admin.TabularInline):
    model = MenuItem
    extra = 0
    fields = ["name", "category", "price", "currency", "is_available", "description"]


@admin.register(Restaurant)
class RestaurantAdmin(admin.ModelAdmin):
    list_display = ["name", "owner_id", "cuisine", "is_open", "updated_at"]
    list_filter = ["cuisine", "is_open"]
    search_fields = ["name", "description", "address", "=owner_id"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [MenuItemInline]
