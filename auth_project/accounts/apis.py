from django.utils.cache import patch_cache_control
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views

from accounts import keys
from accounts.errors import AccountsErrorCode
from accounts.selectors import user_get_active
from accounts.serializers import (
    JWKSetSerializer,
    LoginInputSerializer,
    RefreshInputSerializer,
    TokenPairOutputSerializer,
    UserOutputSerializer,
    UserRegisterInputSerializer,
)
from accounts.services import user_register
from accounts.throttles import (
    LoginEmailThrottle,
    LoginIPThrottle,
    RegisterGlobalThrottle,
    RegisterIPThrottle,
)

JWKS_MAX_AGE = 300
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    description="Seconds to wait before trying again.",
    response=[429],
)


class UserRegisterApi(APIView):
    """Create an account; `role` is customer (default), restaurant_owner or rider, never admin.

    Rate-limited per client IP, and for all clients together (each registration hashes a
    password, which is slow on purpose).
    """

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [RegisterIPThrottle, RegisterGlobalThrottle]

    def check_throttles(self, request):
        # In order, stopping at the first refusal (DRF asks every throttle, and each counts the
        # request it lets through): a client over its own limit must not use up everyone's.
        for throttle in self.get_throttles():
            if not throttle.allow_request(request, self):
                self.throttled(request, throttle.wait())

    @extend_schema(
        request=UserRegisterInputSerializer,
        responses={
            201: UserOutputSerializer,
            400: OpenApiResponse(description="Invalid input"),
            429: OpenApiResponse(
                description="Too many registrations from this address (REGISTER_RATE_PER_IP) "
                "or from everyone (REGISTER_RATE_GLOBAL); see Retry-After",
            ),
        },
        parameters=[RETRY_AFTER],
        summary="Create an account (role customer, restaurant_owner or rider)",
    )
    def post(self, request):
        serializer = UserRegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_register(**serializer.validated_data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


# Login, refresh and logout are simplejwt's views; their serializers come from SIMPLE_JWT settings.


class LoginApi(jwt_views.TokenObtainPairView):
    """Exchange email and password for tokens; rate-limited per client IP and per email."""

    throttle_classes = [LoginIPThrottle, LoginEmailThrottle]

    @extend_schema(
        request=LoginInputSerializer,
        responses={
            200: TokenPairOutputSerializer,
            401: OpenApiResponse(description="Bad credentials"),
            429: OpenApiResponse(description="Too many attempts; see Retry-After"),
        },
        parameters=[RETRY_AFTER],
        summary="Exchange email and password for an access and a refresh token",
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class RefreshApi(jwt_views.TokenRefreshView):
    """Rotate a refresh token: a new pair is issued and the given refresh token is revoked."""

    @extend_schema(
        request=RefreshInputSerializer,
        responses={
            200: TokenPairOutputSerializer,
            401: OpenApiResponse(description="Token refused"),
        },
        summary="Exchange a refresh token for a new pair; the old refresh token stops working",
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class LogoutApi(jwt_views.TokenBlacklistView):
    """Revoke a refresh token (holding it is the proof; no access token needed)."""

    @extend_schema(
        request=RefreshInputSerializer,
        responses={204: None, 401: OpenApiResponse(description="Token refused")},
        summary="Revoke a refresh token",
    )
    def post(self, request, *args, **kwargs):
        super().post(request, *args, **kwargs)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    """Return the caller, read from the database."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserOutputSerializer}, summary="The caller")
    def get(self, request):
        user = user_get_active(user_id=request.user.id)
        if user is None:
            raise AuthenticationFailed(
                "User not found or inactive.", AccountsErrorCode.USER_NOT_FOUND
            )
        return Response(UserOutputSerializer(user).data)


class JwksApi(APIView):
    """Publish the public keys (JWKS) with which services verify access tokens."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        responses={200: JWKSetSerializer}, summary="Public keys that verify access tokens"
    )
    def get(self, request):
        response = Response(keys.jwks())
        patch_cache_control(response, public=True, max_age=JWKS_MAX_AGE)
        return response
