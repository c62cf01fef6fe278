from django.contrib import admin, messages

from food_common.admin import RecordAdmin
from notifications import services
from notifications.models import Notification, NotificationStatus


@admin.register(Notification)
class NotificationAdmin(RecordAdmin):
    """The notifications sent (or not): view only; the FAILED ones can be sent again."""

    list_display = [
        "recipient_email",
        "event_type",
        "subject",
        "status",
        "attempts",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", "event_type", "channel"]
    search_fields = ["recipient_email", "event_id"]
    readonly_fields = [f.name for f in Notification._meta.fields]
    date_hierarchy = "created_at"
    actions = ["send_again"]

    @admin.action(
        description="Send the selected FAILED notifications again", permissions=["operate"]
    )
    def send_again(self, request, queryset):
        failed = queryset.filter(status=NotificationStatus.FAILED)
        queued = sum(
            services.notification_send_again(notification=notification) for notification in failed
        )
        skipped = queryset.count() - queued
        self.message_user(request, f"{queued} notification(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} skipped: only FAILED notifications are sent again.",
                messages.WARNING,
            )
