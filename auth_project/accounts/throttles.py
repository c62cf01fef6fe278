"""Rate limits of POST /auth/login: per client IP and per email address (counted in Redis)."""

import hashlib

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import User


class LoginRateThrottle(SimpleRateThrottle):
    """Read the rate from the setting `rate_setting` when asked, so it follows the settings."""

    rate_setting = ""

    def get_rate(self) -> str:
        return getattr(settings, self.rate_setting)


class LoginIPThrottle(LoginRateThrottle):
    scope = "login_ip"
    rate_setting = "LOGIN_RATE_PER_IP"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginEmailThrottle(LoginRateThrottle):
    scope = "login_email"
    rate_setting = "LOGIN_RATE_PER_EMAIL"

    def get_cache_key(self, request, view) -> str | None:
        email = request.data.get("email") if hasattr(request.data, "get") else None
        if not isinstance(email, str) or not email.strip():
            return None  # the serializer refuses the request
        # Hashed: no addresses in Redis, and no odd characters in keys.
        ident = hashlib.sha256(User.objects.normalize_email(email).encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}
