"""Admin of delivery: riders (verify them), deliveries with their offers and timeline (assign them).

Statuses, verification and assignments change only through delivery.services (the actions), so
the riders' dispatch state in Redis and the events follow every change.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from delivery import services
from delivery.models import Delivery, DeliveryOffer, DeliveryStatusChange, Rider
from food_common.errors import DomainError
from food_common.urls import admin_page


class RecordInline(admin.TabularInline):
    """A delivery's own records (offers, timeline), shown as they are: no adding, no editing."""

    extra = 0
    max_num = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields


class OfferInline(RecordInline):
    model = DeliveryOffer
    fields = [
        "rider",
        "status",
        "offered_at",
        "expires_at",
        "answered_at",
        "radius_km",
        "distance_km",
    ]


class StatusChangeInline(RecordInline):
    model = DeliveryStatusChange
    verbose_name_plural = "timeline"
    fields = ["at", "from_status", "to_status", "rider", "by_user_id", "reason"]


@admin.register(Rider)
class RiderAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "user_id",
        "vehicle_type",
        "verified",
        "available",
        "last_seen_at",
        "created_at",
    ]
    list_filter = ["verified", "available", "vehicle_type"]
    search_fields = ["name", "phone", "=user_id"]
    search_help_text = "Name, phone, or exact user id."
    # Verified and available change through the services (written through to Redis): the verify
    # action here, the rider's PATCH /riders/me for availability.
    readonly_fields = [
        "user_id",
        "verified",
        "available",
        "last_lat",
        "last_lon",
        "last_seen_at",
        "created_at",
    ]
    fields = ["name", "phone", "vehicle_type", *readonly_fields]
    actions = ["verify"]

    def has_add_permission(self, request) -> bool:
        return False  # a rider creates their own profile (POST /riders/me)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # their deliveries and offers refer to them

    @admin.action(description="Verify the selected riders (they may then work)")
    def verify(self, request, queryset):
        for rider in queryset:
            services.rider_verify(rider_id=rider.pk)
        self.message_user(request, f"{queryset.count()} rider(s) verified.", messages.SUCCESS)


class AssignActionForm(ActionForm):
    rider_id = forms.IntegerField(required=False, min_value=1, label="Rider id")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Deliveries are read-only here: they move through delivery.services (the assign action)."""

    list_display = [
        "id",
        "order_id",
        "status",
        "rider",
        "restaurant_id",
        "customer_email",
        "created_at",
        "assigned_at",
    ]
    list_filter = ["status", "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["=order_id", "=id", "customer_email"]
    search_help_text = "Exact order or delivery id, or the customer's email."
    list_select_related = ["rider"]
    readonly_fields = [*(field.name for field in Delivery._meta.fields), "order"]
    inlines = [OfferInline, StatusChangeInline]
    action_form = AssignActionForm
    actions = ["assign"]

    @admin.display(description="the order")
    def order(self, delivery: Delivery) -> str:
        """Its order's page in the orders admin, with the order's trail across services."""
        return format_html(
            '<a href="{}">order {} and its trail</a>',
            admin_page("orders", "orders.order", delivery.order_id),
            delivery.order_id,
        )

    def has_add_permission(self, request) -> bool:
        return False  # opened by order.ready

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a delivery, its offers and its events are records

    def has_assign_permission(self, request) -> bool:
        return request.user.has_perm("delivery.change_delivery")

    @admin.action(
        description="Assign the selected delivery to the rider id given", permissions=["assign"]
    )
    def assign(self, request, queryset):
        try:
            rider_id = AssignActionForm.base_fields["rider_id"].clean(request.POST.get("rider_id"))
        except ValidationError:
            rider_id = None
        if rider_id is None:
            self.message_user(request, "Give the rider's id next to the action.", messages.ERROR)
            return
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one delivery to assign.", messages.ERROR)
            return
        delivery = queryset.get()
        try:
            # by_user_id stays empty: an admin site account is not a user of the auth service.
            services.delivery_assign(
                delivery_id=delivery.pk,
                rider_id=rider_id,
                reason=f"assigned in the admin by {request.user.get_username()}",
            )
        except DomainError as exc:
            self.message_user(request, f"Delivery {delivery.pk}: {exc.detail}", messages.ERROR)
            return
        self.message_user(
            request, f"Delivery {delivery.pk} assigned to rider {rider_id}.", messages.SUCCESS
        )
