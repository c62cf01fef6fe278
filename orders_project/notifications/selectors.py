"""Reads of notifications."""

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from food_common.events.trail import admin_change_url
from notifications.models import Notification, NotificationStatus


def notification_list(*, recipient_id: int) -> QuerySet[Notification]:
    """Return the notifications of one recipient, newest first."""
    return Notification.objects.filter(recipient_id=recipient_id).order_by("-created_at", "-id")


def notification_last_id(*, recipient_id: int) -> int | None:
    """Return the id of the recipient's latest notification, None if they have none."""
    return (
        Notification.objects.filter(recipient_id=recipient_id)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )


def notifications_after(*, recipient_id: int, after_id: int, limit: int) -> list[Notification]:
    """Return the recipient's notifications with an id above `after_id`, in id order (at most
    `limit`): what a live client that reconnects has missed."""
    found = Notification.objects.filter(recipient_id=recipient_id, id__gt=after_id)
    return list(found.order_by("id")[:limit])


def notification_ids_left_pending(*, older_than_seconds: float, limit: int = 500) -> list[int]:
    """Return the ids of PENDING notifications untouched for `older_than_seconds`, oldest first.

    They are the ones whose send task never reached the broker or was lost.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = Notification.objects.filter(status=NotificationStatus.PENDING, updated_at__lte=cutoff)
    return list(stale.order_by("updated_at").values_list("pk", flat=True)[:limit])


def notification_trail(*, event_ids) -> dict:
    """Return the notifications part of a trail: the notifications of these events, as rows."""
    notifications = Notification.objects.filter(event_id__in=event_ids).order_by("created_at", "id")
    rows, records, problems = [], [], []
    for notification in notifications:
        url = admin_change_url(notification)
        rows.append(
            {
                "id": notification.pk,
                "event_id": str(notification.event_id),
                "event_type": notification.event_type,
                "channel": notification.channel,
                "recipient_email": notification.recipient_email,
                "subject": notification.subject,
                "status": notification.status,
                "attempts": notification.attempts,
                "last_error": notification.last_error,
                "created_at": notification.created_at.isoformat(),
                "sent_at": notification.sent_at.isoformat() if notification.sent_at else None,
                "url": url,
            }
        )
        recipient = notification.recipient_email or f"user {notification.recipient_id}"
        detail = (
            f"{notification.channel} to {recipient}: {notification.status}, "
            f"{notification.attempts} attempt(s)"
        )
        if notification.last_error:
            detail += f"; last error: {notification.last_error}"
        records.append(
            {
                "at": notification.created_at.isoformat(),
                "what": f"notification: {notification.subject}",
                "detail": detail,
                "url": url,
            }
        )
        if notification.status != NotificationStatus.SENT:
            problems.append(f"notification {notification.pk} ({notification.subject}) is {detail}")
    return {
        "service": "notifications",
        "published": [],
        "handled": [],
        "dead_letters": [],
        "records": records,
        "problems": problems,
        "notifications": rows,
    }
