"""Admin login lockout with django-axes: who the client is, which logins count, and the answer.

settings_base points axes at these (AXES_CLIENT_IP_CALLABLE, AXES_HANDLER, AXES_LOCKOUT_CALLABLE).
Only the Django admins' login forms count: the auth API's login has its own throttles, and the
services' token authentication never calls Django's authenticate().
"""

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_lockout_message
from django.http import HttpResponse, JsonResponse
from rest_framework.throttling import BaseThrottle

from food_common.errors import ErrorCode, error_body, wants_html


def client_address(request) -> str:
    """Return the client's address as the throttles see it (DRF's NUM_PROXIES rule)."""
    return BaseThrottle().get_ident(request)


class AdminLoginHandler(AxesDatabaseHandler):
    """Record the admins' login attempts only; other logins (POST /auth/login) are not axes' job."""

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        if request is not None and self.is_admin_request(request):
            super().user_login_failed(sender, credentials, request, **kwargs)

    def user_logged_in(self, sender, request, user, **kwargs):
        if request is not None and self.is_admin_request(request):
            super().user_logged_in(sender, request, user, **kwargs)


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """Return 429 with Retry-After: axes' message for a browser, the JSON error for the rest."""
    message = str(get_lockout_message())
    if wants_html(request):
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    else:
        response = JsonResponse(error_body(message, ErrorCode.LOCKED_OUT), status=429)
    cool_off = get_cool_off(request)
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
