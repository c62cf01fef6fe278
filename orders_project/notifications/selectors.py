"""Reads of notifications."""

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from notifications.models import Notification, NotificationStatus


def notification_list(*, recipient_id: int) -> QuerySet[Notification]:
    """Return the notifications of one recipient, newest first."""
    return Notification.objects.filter(recipient_id=recipient_id).order_by("-created_at", "-id")


def notification_ids_left_pending(*, older_than_seconds: float, limit: int = 500) -> list[int]:
    """Return the ids of PENDING notifications untouched for `older_than_seconds`, oldest first.

    They are the ones whose send task never reached the broker or was lost.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = Notification.objects.filter(status=NotificationStatus.PENDING, updated_at__lte=cutoff)
    return list(stale.order_by("updated_at").values_list("pk", flat=True)[:limit])
