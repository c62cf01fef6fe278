"""Output shapes of the notifications API."""

from rest_framework import serializers

from food_common.schema import page_serializer
from notifications.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = [
            "id",
            "event_type",
            "subject",
            "body",
            "channel",
            "status",
            "created_at",
            "sent_at",
        ]
        read_only_fields = fields


NotificationPageSerializer = page_serializer(NotificationSerializer, "NotificationPageSerializer")
