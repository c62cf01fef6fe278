"""Admin of payments: read-only records (money only moves through the services), and refunds."""

from django.contrib import admin, messages
from django.utils.html import format_html

from food_common.admin import RecordAdmin, pretty_json
from food_common.errors import DomainError
from food_common.urls import admin_page
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
class PaymentAdmin(RecordAdmin):
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
        "order",
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

    @admin.display(description="the order")
    def order(self, payment: Payment) -> str:
        """Its order's page in the orders admin, with the order's trail across services."""
        return format_html(
            '<a href="{}">order {} and its trail</a>',
            admin_page("orders", "orders.order", payment.order_id),
            payment.order_id,
        )

    # payment.refunded then moves each order to REFUNDED, a paid one too (its restaurant can no
    # longer accept it).
    @admin.action(
        description="Refund the selected payments in full (their orders: REFUNDED)",
        permissions=["operate"],
    )
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
class IdempotencyRecordAdmin(RecordAdmin):
    list_display = ["key", "customer_id", "status", "response_status", "created_at"]
    list_filter = ["status", "response_status"]
    search_fields = ["=key", "=customer_id"]
    fields = [
        f.name if f.name != "response_body" else "response_json"
        for f in IdempotencyRecord._meta.fields
    ]
    readonly_fields = fields

    @admin.display(description="response body")
    def response_json(self, record: IdempotencyRecord) -> str:
        return pretty_json(record.response_body)
