"""One JSON error shape for every error: `{"detail", "code", "errors"?, "request_id"}`.

`exception_handler` is DRF's EXCEPTION_HANDLER; the `handler400/403/404/500` views make Django's own
errors (bad URL, oversize body, crash) answer in the same shape instead of an HTML page.
"""

import logging

from django.core.exceptions import DisallowedHost, PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from django.views.csrf import csrf_failure as django_csrf_failure
from rest_framework import exceptions, status

from food_common.request_id import get_request_id

logger = logging.getLogger(__name__)


class ErrorCode:
    """Error codes shared by every service (each domain adds its own)."""

    INVALID = "invalid"
    BAD_REQUEST = "bad_request"
    PARSE_ERROR = "parse_error"
    NOT_AUTHENTICATED = "not_authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    TOKEN_INVALID = "token_not_valid"
    PERMISSION_DENIED = "permission_denied"
    CSRF_FAILED = "csrf_failed"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    BODY_TOO_LARGE = "request_too_large"
    THROTTLED = "throttled"
    LOCKED_OUT = "locked_out"
    SERVER_ERROR = "server_error"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    BAD_GATEWAY = "bad_gateway"
    AUTH_KEYS_UNAVAILABLE = "auth_keys_unavailable"


class DomainError(exceptions.APIException):
    """A business rule refused the request; subclasses set `status_code` and `default_code`."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = ErrorCode.INVALID
    default_detail = "The request was refused."

    def __init__(self, detail: str | None = None, code: str | None = None, **extra):
        super().__init__(detail=detail, code=code)
        self.code = code or self.default_code
        self.extra = extra


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT
    default_code = ErrorCode.CONFLICT
    default_detail = "The request conflicts with the current state."


class NotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = ErrorCode.NOT_FOUND
    default_detail = "Not found."


class BadGateway(DomainError):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = ErrorCode.BAD_GATEWAY
    default_detail = "A service this request needs gave an answer that cannot be used."


class ServiceUnavailable(DomainError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = ErrorCode.UPSTREAM_UNAVAILABLE
    default_detail = "A service this request needs is unavailable; try again shortly."


def error_body(detail: str, code: str, **extra) -> dict:
    """Return the JSON body of an error response."""
    return {"detail": detail, "code": code, **extra, "request_id": get_request_id()}


def wants_html(request) -> bool:
    """Return True for a browser (it asks for text/html): it gets a page, the rest the JSON error."""
    return "text/html" in request.META.get("HTTP_ACCEPT", "")


def exception_handler(exc, context):
    """Render every exception DRF sees as the one error shape; unexpected ones as a logged 500."""
    from rest_framework.views import (  # not at import: cycle
        exception_handler as drf_exception_handler,
    )
    from rest_framework.views import set_rollback

    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        exc = exceptions.APIException("Request body is too large.", ErrorCode.BODY_TOO_LARGE)
        exc.status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled error in %s", context.get("view").__class__.__name__)
        set_rollback()
        return JsonResponse(
            error_body("Internal server error.", ErrorCode.SERVER_ERROR), status=500
        )
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        response.data = error_body("Invalid input.", ErrorCode.INVALID, errors=errors)
    else:
        detail = data.get("detail", "") if isinstance(data, dict) else str(data)
        code = getattr(exc, "code", None) or _code_of(exc)
        extra = {k: v for k, v in data.items() if k != "detail"} if isinstance(data, dict) else {}
        extra.update(getattr(exc, "extra", {}) or {})
        extra.pop("code", None)
        extra.pop("messages", None)
        response.data = error_body(str(detail), code, **extra)
    return response


def _code_of(exc) -> str:
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    if isinstance(codes, str):
        return codes
    if isinstance(codes, dict) and isinstance(codes.get("code"), str):
        return codes["code"]
    return ErrorCode.SERVER_ERROR


def handler400(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(
            error_body("Request body is too large.", ErrorCode.BODY_TOO_LARGE), status=413
        )
    if isinstance(exception, DisallowedHost):  # not a host name, or not in ALLOWED_HOSTS
        return JsonResponse(
            error_body("The Host header is not valid.", ErrorCode.BAD_REQUEST), status=400
        )
    return JsonResponse(error_body("Bad request.", ErrorCode.INVALID), status=400)


def handler403(request, exception=None):
    return JsonResponse(
        error_body("You do not have permission to do this.", ErrorCode.PERMISSION_DENIED),
        status=403,
    )


def handler404(request, exception=None):
    return JsonResponse(error_body("Not found.", ErrorCode.NOT_FOUND), status=404)


def handler500(request):
    return JsonResponse(error_body("Internal server error.", ErrorCode.SERVER_ERROR), status=500)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: Django's page for a browser (an admin form), the JSON error for the rest."""
    if wants_html(request):
        return django_csrf_failure(request, reason)
    return JsonResponse(
        error_body(f"CSRF check failed: {reason}", ErrorCode.CSRF_FAILED), status=403
    )
