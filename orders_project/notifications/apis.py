"""HTTP API of notifications: each user reads their own."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.views import APIView

from food_common.schema import error_responses
from food_common.serializers import page_response
from notifications import selectors
from notifications.serializers import (
    NotificationPageSerializer,
    NotificationSerializer,
)

PAGE = OpenApiParameter("page", int, OpenApiParameter.QUERY, description="Page number, from 1.")


class NotificationListApi(APIView):
    @extend_schema(
        operation_id="notifications_list",
        summary="The caller's notifications, newest first",
        description=(
            "Every notification sent (or being sent) to the caller about their orders and "
            "payments. `status` is PENDING until the email is sent, SENT once it is, FAILED if "
            "every attempt failed."
        ),
        parameters=[PAGE],
        responses={200: NotificationPageSerializer, **error_responses(401, 404)},
    )
    def get(self, request):
        notifications = selectors.notification_list(recipient_id=request.user.id)
        return page_response(self, notifications, NotificationSerializer)
