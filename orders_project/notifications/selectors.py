"""Reads of notifications."""

from django.db.models import QuerySet

from notifications.models import Notification


def notification_list(*, recipient_id: int) -> QuerySet[Notification]:
    """Return the notifications of one recipient, newest first."""
    return Notification.objects.filter(recipient_id=recipient_id).order_by("-created_at", "-id")
