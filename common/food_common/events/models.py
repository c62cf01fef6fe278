"""Outbox (events a service produced), inbox (events it handled) and dead letters."""

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from food_common.events.signing import sign


class OutboxEvent(models.Model):
    """An event written in the producer's transaction; `sent_at` is set once the broker took it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=100)
    version = models.PositiveSmallIntegerField(default=1)
    producer = models.CharField(max_length=50)
    request_id = models.CharField(max_length=128, blank=True)
    data = models.JSONField(encoder=DjangoJSONEncoder)
    occurred_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    send_attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(
                fields=["occurred_at"],
                condition=models.Q(sent_at__isnull=True),
                name="events_outbox_pending_idx",
            ),
            # The purge of old sent events (bus.purge_sent) and the admin's newest-first list.
            models.Index(fields=["occurred_at"], name="events_outbox_occurred_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    def envelope(self) -> dict:
        """Return the event as it travels: the envelope of the design contract, signed."""
        return sign(
            {
                "id": str(self.id),
                "type": self.type,
                "version": self.version,
                "occurred_at": self.occurred_at.isoformat(),
                "producer": self.producer,
                "request_id": self.request_id,
                "data": self.data,
            }
        )


INBOX_CONSTRAINT = "events_inbox_once_per_handler"


class InboxEntry(models.Model):
    """An event a handler has processed; the unique constraint makes every handler idempotent."""

    event_id = models.UUIDField()
    event_type = models.CharField(max_length=100)
    handler = models.CharField(max_length=200)
    handled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "inbox entries"
        constraints = [
            models.UniqueConstraint(fields=["event_id", "handler"], name=INBOX_CONSTRAINT)
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.handler}"


# The `handler` of the dead letter of an envelope rejected before any handler ran (not signed by
# its producer: food_common.events.signing); its `error` says why.
REJECTED = "(rejected: not signed by its producer)"


class DeadLetter(models.Model):
    """An event a handler still failed on after every retry, or a rejected envelope; replayable."""

    event_id = models.UUIDField(db_index=True)
    event_type = models.CharField(max_length=100)
    handler = models.CharField(max_length=200)
    queue = models.CharField(max_length=50)
    envelope = models.JSONField(encoder=DjangoJSONEncoder)
    error = models.TextField()
    attempts = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.handler}"
