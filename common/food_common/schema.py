"""OpenAPI helpers: the bearer-token scheme, the error shape and page serializers for drf-spectacular.

`ErrorResponsesAutoSchema` (the services' DEFAULT_SCHEMA_CLASS) documents on every operation the
error answers it can give, read from the view (authentication, permissions, throttles) and the
operation (body, query and path parameters), in the one error shape.
"""

from types import SimpleNamespace

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
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


ERROR_DESCRIPTIONS = {
    400: "`invalid` (field errors under `errors`) or `parse_error`: the request is malformed.",
    401: "`not_authenticated`, `authentication_failed` or `token_not_valid`: no valid access token.",
    403: "`permission_denied`: the caller's role may not do this.",
    404: "`not_found`: no such resource (or page), or not the caller's.",
    413: "`request_too_large`: the body is over the size limit.",
    415: "`unsupported_media_type`: the body is not `application/json`.",
    429: "`throttled`: too many requests; see `Retry-After`.",
}


class ErrorResponsesAutoSchema(AutoSchema):
    """AutoSchema that adds the error answers each operation can give, in the one error shape.

    Statuses an operation documents itself are kept as they are (a documented status without a
    body gets the error shape); the rest come from what the view does:
    400 with a body or query parameters, 413 and 415 with a body, 401 with token authentication,
    403 when a permission can refuse an authenticated caller, 404 with path parameters or a page
    number, 429 with throttles. A 500 is a defect, never documented.
    """

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        error = self._get_response_for_code(ErrorSerializer, "400")
        for status in self.error_statuses(operation):
            if str(status) not in responses:
                responses[str(status)] = {**error, "description": ERROR_DESCRIPTIONS[status]}
        for status, documented in responses.items():
            if status >= "400" and "content" not in documented:
                documented["content"] = error["content"]
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def error_statuses(self, operation: dict) -> list[int]:
        """Return the error statuses this operation can answer, from its view and its shape."""
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        has_query = any(p["in"] == "query" for p in parameters)
        statuses = []
        if has_body or has_query:
            statuses.append(400)
        if self.view.get_authenticators():
            statuses.append(401)
        if self._refuses_some_authenticated_caller():
            statuses.append(403)
        if any(p["in"] == "path" for p in parameters) or any(
            p["in"] == "query" and p["name"] == "page" for p in parameters
        ):
            statuses.append(404)
        if has_body:
            statuses += [413, 415]
        if self.view.get_throttles():
            statuses.append(429)
        return statuses

    def _refuses_some_authenticated_caller(self) -> bool:
        """Return True if a permission can refuse a caller with a valid token (so: 403).

        Probes each permission with a token holder of no role and someone else's object.
        """
        caller = SimpleNamespace(
            id=0, email="", role="", is_authenticated=True, is_admin=False, is_staff=False
        )
        request = SimpleNamespace(method=self.method, user=caller, auth=None, query_params={})
        stranger_object = SimpleNamespace(owner_id=-1, customer_id=-1, user_id=-1)
        for permission in self.view.get_permissions():
            try:
                if not (
                    permission.has_permission(request, self.view)
                    and permission.has_object_permission(request, self.view, stranger_object)
                ):
                    return True
            except Exception:  # noqa: BLE001 - a permission we cannot probe may refuse
                return True
        return False
