"""OpenAPI helpers: the bearer-token scheme, the error shape and page serializers for drf-spectacular."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class JWKSAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "food_common.authentication.JWKSAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An RS256 access token from POST /auth/login.",
        }


class ErrorSerializer(serializers.Serializer):
    """The one error shape, for documenting error responses (see food_common.errors)."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(required=False, help_text="Field errors, by field name.")
    request_id = serializers.CharField()


def page_serializer(
    item_serializer: type[serializers.Serializer], name: str
) -> type[serializers.Serializer]:
    """Return a serializer documenting one page of `item_serializer` (DRF's PageNumberPagination)."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item_serializer(many=True),
            "__module__": item_serializer.__module__,
        },
    )


def error_responses(
    *statuses: int, serializer: type[serializers.Serializer] = ErrorSerializer
) -> dict:
    """Return drf-spectacular `responses` entries documenting the error shape for `statuses`."""
    return {code: OpenApiResponse(serializer, description="Error") for code in statuses}
