"""Tiny views that exercise food_common's error shape, authentication and event publishing."""

import logging

from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from food_common.authentication import HasRole
from food_common.errors import Conflict
from food_common.events.bus import publish
from food_common.request_id import get_request_id
from food_common.tokens import KeysUnavailable
from tests.models import HandledNote

logger = logging.getLogger("tests.views")


def keys_unavailable(kid):
    """A JWT_KEY_RESOLVER whose JWKS never answers."""
    raise KeysUnavailable("signing keys unavailable: JWKS at http://auth.invalid does not answer")


class ItemSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=10)
    quantity = serializers.IntegerField(min_value=1)


class ItemsView(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        serializer = ItemSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data, status=201)


class ConflictView(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        raise Conflict("The order is already paid.", current_status="paid")


class NoteView(APIView):
    permission_classes = [AllowAny]

    def get(self, request, pk):
        note = get_object_or_404(HandledNote, pk=pk)
        return Response({"id": note.pk})


class CrashView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("an unexpected bug in a view")


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request):
        user = request.user
        return Response(
            {
                "id": user.id,
                "email": user.email,
                "role": user.role,
                "is_admin": user.is_admin,
                "jti": user.claims["jti"],
                "token": request.auth,
            }
        )


class AdminOnlyView(APIView):
    permission_classes = [IsAuthenticated, HasRole.of("admin")]

    def get(self, request):
        return Response({"ok": True})


class PublishView(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        with transaction.atomic():
            event = publish("test.happened", request.data)
        return Response({"id": str(event.id)}, status=201)


class LogView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        logger.info("inside the view")
        return Response({"request_id": get_request_id()})


def plain_crash(request):
    """A plain Django view (not DRF) that crashes: Django's handler500 answers."""
    raise RuntimeError("an unexpected bug in a plain view")


@csrf_exempt
def plain_body(request):
    """A plain Django view that reads the body: Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE."""
    return JsonResponse({"size": len(request.body)})
