"""Notifications sent to users about their orders and payments (one per event and recipient)."""

from django.db import models
from django.utils import timezone

ONCE_PER_EVENT_RECIPIENT = "notification_once_per_event_recipient"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    # Stored and pushed to the recipient's open WebSockets only: the event names no email for them
    # (a restaurant owner, a rider). Every notification is pushed live too, whatever its channel.
    LIVE = "live", "Live only"


class NotificationStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    SENT = "SENT", "Sent"
    FAILED = "FAILED", "Failed"


class Notification(models.Model):
    """A message to one user caused by one event; the send task delivers it and records how it went."""

    recipient_id = models.BigIntegerField(help_text="Id of the recipient in the auth service.")
    recipient_email = models.EmailField(max_length=254)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.EMAIL)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    event_id = models.UUIDField(help_text="The event this notification reports.")
    event_type = models.CharField(max_length=100)
    # What live clients are told (notifications.live): the kind of message, its order, its details.
    kind = models.CharField(
        max_length=50, blank=True, help_text="order.status, payment, order.new, delivery.offer..."
    )
    order_id = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Send attempts so far.")
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # "The recipient's notifications, newest first": GET /notifications.
            models.Index(
                fields=["recipient_id", "-created_at", "-id"],
                name="notification_recipient_idx",
            ),
            # "The recipient's notifications after id N, in id order": a live client catching up.
            models.Index(fields=["recipient_id", "id"], name="notification_recipient_id_idx"),
            # The sweep of notifications left unsent (see selectors.notification_ids_left_pending).
            models.Index(
                fields=["updated_at"],
                condition=models.Q(status=NotificationStatus.PENDING),
                name="notification_pending_idx",
            ),
        ]
        constraints = [
            # A repeated or replayed event never notifies the same person twice.
            models.UniqueConstraint(
                fields=["event_id", "recipient_id"], name=ONCE_PER_EVENT_RECIPIENT
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=NotificationStatus.values),
                name="notification_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(channel__in=Channel.values), name="notification_channel_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.recipient_email} ({self.status})"
