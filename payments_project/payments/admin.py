"""Admin of payments: read-only records (money only moves through the services), and refunds."""

from django.contrib import admin, messages

from food_common.errors import DomainError
from payments import services
from payments.models import IdempotencyRecord, Payment, Refund


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    fields = ["amount", "status", "reason", "provider_reference", "by_user_id", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "order_id",
        "customer_id",
        "amount",
        "currency",
        "status",
        "failure_reason",
        "created_at",
    ]
    list_filter = ["status", "currency"]
    search_fields = ["=order_id"]
    search_help_text = "Exact order id."
    date_hierarchy = "created_at"
    # Every field is read-only: a status or an amount changed here would bypass the provider and
    # the events. The refund action goes through the same service as the API.
    readonly_fields = [
        "order_id",
        "customer_id",
        "customer_email",
        "amount",
        "currency",
        "status",
        "failure_reason",
        "card_last4",
        "provider_reference",
        "idempotency_key",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields
    inlines = [RefundInline]
    actions = ["refund"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    # payment.refunded then moves each order to REFUNDED, a paid one too (its restaurant can no
    # longer accept it).
    @admin.action(description="Refund the selected payments in full (their orders: REFUNDED)")
    def refund(self, request, queryset):
        refunded = 0
        for payment in queryset:
            try:
                # by_user_id stays empty: an admin site account is not a user of the auth service.
                services.payment_refund(
                    payment_id=payment.pk,
                    reason=f"refunded in the admin by {request.user.get_username()}",
                )
                refunded += 1
            except DomainError as exc:
                self.message_user(request, f"Payment {payment.pk}: {exc.detail}", messages.ERROR)
        if refunded:
            self.message_user(request, f"{refunded} payment(s) refunded.", messages.SUCCESS)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["key", "customer_id", "status", "response_status", "created_at"]
    list_filter = ["status", "response_status"]
    search_fields = ["=key", "=customer_id"]
    readonly_fields = [f.name for f in IdempotencyRecord._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
